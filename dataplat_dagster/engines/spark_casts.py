"""Columns to declared types for `cast` and `parse_dates`, by the landing rules, on Spark.

The same rules as `pandas_casts` and `arrow_casts.text_to`: exact integers ("12.00" and "+5"
pass, "1.5" fails), blank text is null not an error, booleans from true/t/yes/y/1 and their
opposites, ISO 8601 dates and timestamps (a value without an offset is a wall-clock time of
the column's zone). Each conversion returns (value, failed): failed marks a present value
that did not convert, and those rows are quarantined by the step.
"""

from pyspark.sql import Column
from pyspark.sql import functions as F
from pyspark.sql import types as T

from dataplat_dagster.config.schema import TIMESTAMP_TYPES
from dataplat_dagster.engines.spark_times import instant_to_wall, wall_to_instant

SPARK_TYPES: dict[str, str] = {
    "string": "string",
    "int8": "tinyint",
    "int16": "smallint",
    "int32": "int",
    "int64": "bigint",
    "float32": "float",
    "float64": "double",
    "bool": "boolean",
    "date": "date",
    "timestamp": "timestamp",
    "timestamp_ntz": "timestamp_ntz",
}
_INTEGER = r"^[+-]?\d+(\.0*)?$"
_FLOAT = r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|(?i:inf|infinity|nan))$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_ISO = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}(\.\d+)?)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)?)?$"
_ZONED = r"[T ]\d{2}.*(Z|z|[+-]\d{2}(:?\d{2})?)$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]


# Unicode White_Space: what `(?U)\s` matches in Java, the regex this trim replaced
WHITESPACE = "".join(
    chr(c)
    for c in (
        *range(0x09, 0x0E),
        *(0x20, 0x85, 0xA0, 0x1680),
        *range(0x2000, 0x200B),
        *(0x2028, 0x2029, 0x202F, 0x205F, 0x3000),
    )
)


def strip(text: Column) -> Column:
    """Leading and trailing whitespace removed (any Unicode space, as Python's strip).

    `btrim` with the characters (a regular expression per value cost several times more),
    only on values whose first or last byte may belong to one (`_may_have_space`): `btrim`
    looks each end's character up in the ~60 bytes of the set, and most values have none
    to remove.
    """
    return F.when(_may_have_space(text), F.btrim(text, F.lit(WHITESPACE))).otherwise(text)


def strip_to_null(text: Column) -> Column:
    """`strip`, and null where nothing is left (the `trim` step)."""
    stripped = F.btrim(text, F.lit(WHITESPACE))
    # a value with no space at either end is not blank either: only the others are compared
    return F.when(_may_have_space(text), F.when(stripped != "", stripped)).otherwise(text)


def _may_have_space(text: Column) -> Column:
    """Whether a value is empty or may start or end with a character of WHITESPACE.

    Looked at as UTF-8 bytes: every character of the set is ASCII up to a space, or not
    ASCII (a first byte from 0xC2, a last byte from 0x80), so a value whose first and last
    bytes are printable ASCII has none. The bytes, not the characters: the last character
    of a string is found by counting its characters from the start, and that count was
    most of the trim step's time (TPC-H lineitem's five text columns at scale factor 1:
    2.9 s over the read with the last character, 1.0 s with the last byte).
    """
    data = text.cast("binary")
    first, last = F.substring(data, 1, 1), F.substring(data, -1, 1)
    printable, non_ascii = F.lit(bytearray(b"\x21")), F.lit(bytearray(b"\x80"))
    return (first < printable) | (first >= non_ascii) | (last < printable) | (last >= non_ascii)


def _present(text: Column) -> Column:
    return F.coalesce(strip(text) != "", F.lit(False))


def has_type(data_type: T.DataType, target: str) -> bool:
    return data_type.simpleString() == SPARK_TYPES[target]


def convert(value: Column, data_type: T.DataType, target: str, zone: str) -> tuple[Column, Column]:
    """(value as `target`, failed) for a column of `data_type`; `zone` of naive times."""
    if target == "string":
        from dataplat_dagster.engines.spark_text import text_of

        return text_of(value, data_type), F.lit(False)
    if isinstance(data_type, T.StringType):
        return text_to(value, target, zone)
    temporal = isinstance(data_type, T.TimestampType | T.TimestampNTZType | T.DateType)
    if target in TIMESTAMP_TYPES and temporal:
        return to_kind(value, data_type, target, zone), F.lit(False)
    if target == "date" and temporal:
        if isinstance(data_type, T.TimestampType):  # the date where the data is
            return F.to_date(instant_to_wall(value, zone)), F.lit(False)
        return F.to_date(value), F.lit(False)
    if target in TIMESTAMP_TYPES or target == "date":  # numbers are no dates
        return F.lit(None).cast(SPARK_TYPES[target]), value.isNotNull()
    if target.startswith("int") and isinstance(data_type, T.FloatType | T.DoubleType):
        whole = F.when(value == F.floor(value), value)
        converted = whole.try_cast(SPARK_TYPES[target])
        return converted, value.isNotNull() & ~F.isnan(value) & converted.isNull()
    converted = value.try_cast(SPARK_TYPES[target])
    return converted, value.isNotNull() & converted.isNull()


def to_kind(value: Column, data_type: T.DataType, kind: str, zone: str) -> Column:
    """Dates or timestamps as an instant (`timestamp`) or a wall-clock time (`timestamp_ntz`)."""
    if isinstance(data_type, T.TimestampType):
        return value if kind == "timestamp" else instant_to_wall(value, zone)
    wall = value.cast("timestamp_ntz")  # a date is its midnight; no zone is involved
    return wall_to_instant(wall, zone) if kind == "timestamp" else wall


def text_to(text: Column, target: str, zone: str) -> tuple[Column, Column]:
    """Text to a declared type: (values, present values that failed)."""
    if target in TIMESTAMP_TYPES:
        return parse_timestamps(text, target, zone)
    present = _present(text)
    if target == "bool":
        lowered = F.lower(strip(text))
        values = F.when(lowered.isin(_TRUE), True).when(lowered.isin(_FALSE), False)
        values = values.otherwise(F.lit(None).cast("boolean"))
        return values, present & values.isNull()
    spark_type = SPARK_TYPES[target]
    # Fast path: Spark's own cast of the text as it is, kept where it provably agrees with
    # the rule below. Text with spaces around it never agrees (a canonical form has none,
    # and a space is no float character), so the trim and the regular expressions run only
    # on the few values the cast cannot vouch for: trimming every value was a tenth of the
    # landing parse.
    native = text.try_cast(spark_type)
    if target in ("float32", "float64"):
        agrees = native.isNotNull() & _plain_decimal(text)
    elif target == "date":
        agrees = native.isNotNull() & _plain_date(text)
    else:  # integers: the value's own text is the text read (canonical form)
        agrees = native.cast("string") == text
    trimmed = strip(text)
    if target.startswith("int"):
        trimmed = F.regexp_replace(trimmed, r"^\+", "")
        well_formed = trimmed.rlike(_INTEGER)
        trimmed = F.regexp_replace(trimmed, r"\.0*$", "")
    elif target in ("float32", "float64"):
        well_formed = trimmed.rlike(_FLOAT)
    else:  # date
        well_formed = trimmed.rlike(_DATE)
    checked = F.when(F.coalesce(well_formed, F.lit(False)), trimmed).try_cast(spark_type)
    values = F.when(F.coalesce(agrees, F.lit(False)), native).otherwise(checked)
    # a value that converted is present: the blank test (a trim) runs for the others only.
    # A branch, not `values.isNull() & present`: Spark evaluates once, ahead of the row, any
    # expression an unconditional part repeats, and both sides of `&` count as such: the
    # first and last characters of every value were looked at for the trim of none
    return values, F.when(values.isNull(), present).otherwise(F.lit(False))


def _plain_decimal(text: Column) -> Column:
    """Whether a number Java reads is one _FLOAT reads alike, by a few of its bytes.

    Java's grammar beyond _FLOAT's: spaces around the number, a d/f suffix, hexadecimal
    (`0x` after the sign) and NaN/Infinity. A text starting with a digit, a sign or a
    point, ending with a digit or a point, with no `x` second or third, has none of them.
    Bytes, not characters: the last character is found by counting them from the start,
    and keeping only the number's characters (`translate`) builds a string per value
    (TPC-H lineitem's four float columns at scale factor 1: 0.8 s of their 2.7 s).
    """
    data = text.cast("binary")
    first, last = F.substring(data, 1, 1), F.substring(data, -1, 1)
    second, third = F.substring(data, 2, 1), F.substring(data, 3, 1)
    hexadecimal = second.isin(byte("x"), byte("X")) | third.isin(byte("x"), byte("X"))
    starts = digit(first) | first.isin(byte("+"), byte("-"), byte("."))
    return starts & (digit(last) | (last == byte("."))) & ~hexadecimal


def _plain_date(text: Column) -> Column:
    """Whether a date Spark reads is written as _DATE, by a few of its bytes.

    Spark reads more: spaces around it, a sign, one-digit months and days, a time after
    it. Ten bytes starting and ending with a digit, with `-` fifth and eighth, are none of
    them (Spark takes only digits between the dashes). Formatting each date to compare it
    with its text cost more.
    """
    data = text.cast("binary")
    first, last = F.substring(data, 1, 1), F.substring(data, -1, 1)
    dashes = (F.substring(data, 5, 1) == byte("-")) & (F.substring(data, 8, 1) == byte("-"))
    return (F.octet_length(text) == 10) & digit(first) & digit(last) & dashes


def byte(char: str) -> Column:
    """One ASCII character as a binary literal, compared with bytes of a value."""
    return F.lit(bytearray(char.encode()))


def digit(value: Column) -> Column:
    """Whether a byte of a value is an ASCII digit."""
    return (value >= byte("0")) & (value <= byte("9"))


def parse_timestamps(
    text: Column, kind: str, zone: str, fmt: str | None = None
) -> tuple[Column, Column]:
    """Text to `kind` by the timestamp rule; `fmt` a strptime format, else ISO 8601."""
    present = _present(text)
    trimmed = F.regexp_replace(strip(text), r"(\.\d{6})\d+", "$1")  # digits past µs floored
    if fmt is not None:
        wall = F.try_to_timestamp(trimmed, F.lit(java_pattern(fmt)))
        if "%z" in fmt:  # the text names its offset: an instant
            values = wall if kind == "timestamp" else instant_to_wall(wall, zone)
        else:
            # parsed in the session's zone and read back in it: the wall-clock time as written
            values = to_kind(wall.cast("timestamp_ntz"), T.TimestampNTZType(), kind, zone)
        return values, present & values.isNull()
    iso = F.coalesce(trimmed.rlike(_ISO), F.lit(False))
    zoned = iso & F.coalesce(trimmed.rlike(_ZONED), F.lit(False))
    offset = F.regexp_replace(trimmed, r"\s+(?=[Zz+-]\d{0,2}:?\d{0,2}$)", "")
    instant = F.when(zoned, offset).try_cast("timestamp")
    naive = F.when(iso & ~zoned, trimmed).try_cast("timestamp_ntz")
    if kind == "timestamp":
        values = F.coalesce(instant, wall_to_instant(naive, zone))
    else:
        values = F.coalesce(instant_to_wall(instant, zone), naive)
    return values, present & values.isNull()


_PATTERNS = {
    "Y": "yyyy",
    "y": "yy",
    "m": "M",
    "d": "d",
    "H": "H",
    "I": "h",
    "M": "m",
    "S": "s",
    "f": "SSSSSS",
    "p": "a",
    "b": "MMM",
    "B": "MMMM",
    "a": "EEE",
    "A": "EEEE",
    "j": "D",
    "z": "XX",
    "%": "%",
}


def java_pattern(fmt: str) -> str:
    """A strptime format as Spark's datetime pattern (literal text quoted)."""
    out, literal, index = [], "", 0
    while index < len(fmt):
        char = fmt[index]
        if char == "%" and index + 1 < len(fmt) and fmt[index + 1] in _PATTERNS:
            if literal:
                out.append("'" + literal.replace("'", "''") + "'")
                literal = ""
            out.append(_PATTERNS[fmt[index + 1]])
            index += 2
            continue
        literal += char
        index += 1
    if literal:
        out.append("'" + literal.replace("'", "''") + "'")
    return "".join(out)


def parse_dates(
    text: Column, fmt: str | None, as_timestamp: bool, zone: str
) -> tuple[Column, Column]:
    """`parse_dates`: text to instants, or to dates as written."""
    if as_timestamp:
        return parse_timestamps(text, "timestamp", zone, fmt)
    wall, failed = parse_timestamps(text, "timestamp_ntz", zone, fmt)
    return F.to_date(wall), failed
