"""Text to typed Arrow values, exactly, with the values that do not convert marked one by one.

Arrow's casts are exact (an int64 read from text never passes through float64) but fail a
whole array for one bad value. `cast_each` keeps the fast cast and, only when it fails,
halves the array until each failing value is found. A regular expression first rules out
text that cannot be of the type, so a column of garbage costs one pass, not a search.
"""

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# text each type may have; values matching still may not convert (an int8 of 300, 30 February)
_INTEGER = r"^[+-]?\d+(\.0*)?$"
_FLOAT = r"^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|(?i:inf|infinity|nan))$"
_DATE = r"^\d{4}-\d{2}-\d{2}$"
_TRUE = ["true", "t", "yes", "y", "1"]
_FALSE = ["false", "f", "no", "n", "0"]
INTEGER_TYPES = ("int8", "int16", "int32", "int64")


def present_mask(text: pa.Array) -> np.ndarray:
    """Values that are neither null nor blank (blank text is a null, not an error)."""
    stripped = pc.utf8_trim_whitespace(text)
    return pc.fill_null(pc.not_equal(stripped, ""), False).to_numpy(zero_copy_only=False)


def cast_each(values: pa.Array, target: pa.DataType) -> tuple[pa.Array, np.ndarray]:
    """Cast `values`, nulling and marking (True) the values that do not convert."""
    bad = np.zeros(len(values), dtype=bool)
    try:
        return pc.cast(values, target), bad
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    spans = [(0, len(values))]
    while spans:  # bisect: a span that casts holds no bad value
        start, length = spans.pop()
        try:
            pc.cast(values.slice(start, length), target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            if length == 1:
                bad[start] = True
            else:
                half = length // 2
                spans += [(start, half), (start + half, length - half)]
    cleaned = pc.if_else(pa.array(bad), pa.scalar(None, values.type), values)
    return pc.cast(cleaned, target), bad


def text_to(text: pa.Array, kind: str) -> tuple[pa.Array, np.ndarray]:
    """Text to a declared numeric, bool or date type: (values, present values that failed)."""
    present = present_mask(text)
    trimmed = pc.utf8_trim_whitespace(text)
    if kind == "bool":
        lowered = pc.utf8_lower(trimmed)
        true, false = pc.is_in(lowered, pa.array(_TRUE)), pc.is_in(lowered, pa.array(_FALSE))
        values = pc.if_else(true, True, pc.if_else(false, False, pa.scalar(None, pa.bool_())))
        failed = present & values.is_null().to_numpy(zero_copy_only=False)
        return values, failed
    if kind in INTEGER_TYPES:
        # "+5" and "12.00" are exact integers Arrow's parser refuses; written plainly they pass
        trimmed = pc.replace_substring_regex(trimmed, r"^\+", "")
        well_formed = _matches(trimmed, _INTEGER)
        trimmed = pc.replace_substring_regex(trimmed, r"\.0*$", "")
    elif kind in ("float32", "float64"):
        well_formed = _matches(trimmed, _FLOAT)
    elif kind == "date":
        well_formed = _matches(trimmed, _DATE)
    else:
        raise ValueError(f"no text conversion to {kind}")
    candidates = pc.if_else(pa.array(well_formed), trimmed, pa.scalar(None, pa.string()))
    values, failed = cast_each(candidates, _ARROW[kind])
    return values, present & (~well_formed | failed)


def _matches(text: pa.Array, pattern: str) -> np.ndarray:
    return pc.fill_null(pc.match_substring_regex(text, pattern), False).to_numpy(
        zero_copy_only=False
    )


_ARROW = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "date": pa.date32(),
}
