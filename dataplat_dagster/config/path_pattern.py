"""File-name patterns such as `retail/orders_{date:%Y%m%d}_*.csv`.

The `{date:FMT}` field names the time window a file belongs to; `*` matches any text
within one path segment. The same pattern lists files for a window, maps an arriving
file to its window (sensors) and builds export file names.
"""

import re
from dataclasses import dataclass
from datetime import datetime

_FIELD = re.compile(r"\{(date)(?::([^}]*))?\}|\{(partition|dataflow|table)\}")
_DIRECTIVES = {
    "Y": r"\d{4}",
    "y": r"\d{2}",
    "m": r"\d{2}",
    "d": r"\d{2}",
    "H": r"\d{2}",
    "M": r"\d{2}",
    "S": r"\d{2}",
    "j": r"\d{3}",
    "b": r"[A-Za-z]{3}",
    "%": "%",
}
DEFAULT_DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True)
class PathMatch:
    path: str
    moment: datetime | None


class PathPattern:
    """A compiled path pattern.

    A `{date}` may sit in a folder name (`shop/{date:%Y-%m-%d}/orders.csv`) or a file name.

    Raises:
        ValueError: a date format without a strftime directive, an unsupported directive, or
            more than one `{date}`.
    """

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern.strip("/")
        self.date_format: str | None = None
        regex = ""
        position = 0
        for match in _FIELD.finditer(self.pattern):
            regex += _literal(self.pattern[position : match.start()])
            if match.group(1):
                if self.date_format is not None:
                    raise ValueError(f"pattern {pattern!r} has more than one {{date}} field")
                self.date_format = match.group(2) or DEFAULT_DATE_FORMAT
                regex += f"(?P<date>{_date_regex(self.date_format)})"
            else:
                regex += r"[^/]+"
            position = match.end()
        regex += _literal(self.pattern[position:])
        self.regex = re.compile(regex)

    @property
    def has_date(self) -> bool:
        return self.date_format is not None

    @property
    def static_prefix(self) -> str:
        """The directory part before the first wildcard or field: where listing starts."""
        cut = min(
            (i for i in (self.pattern.find("*"), self.pattern.find("{")) if i >= 0),
            default=len(self.pattern),
        )
        head = self.pattern[:cut]
        return head.rsplit("/", 1)[0] if "/" in head else ""

    def match(self, relative_path: str) -> PathMatch | None:
        found = self.regex.fullmatch(relative_path.strip("/"))
        if not found:
            return None
        moment = None
        if self.date_format is not None:
            try:
                moment = datetime.strptime(found.group("date"), self.date_format)
            except ValueError:
                return None
        return PathMatch(relative_path, moment)

    def render(self, *, moment: datetime | None = None, **fields: str) -> str:
        """Fill the pattern: `{date:FMT}` from `moment`, `{partition}`/`{dataflow}`/`{table}` from fields."""

        def fill(match: re.Match[str]) -> str:
            if match.group(1):
                if moment is None:
                    raise ValueError(f"pattern {self.pattern!r} needs a window for {{date}}")
                return moment.strftime(match.group(2) or DEFAULT_DATE_FORMAT)
            return fields[match.group(3)]

        if "*" in self.pattern:
            raise ValueError(f"pattern {self.pattern!r} has a wildcard and cannot name one file")
        return _FIELD.sub(fill, self.pattern)


def _literal(text: str) -> str:
    return r"[^/]*".join(re.escape(part) for part in text.split("*"))


def _date_regex(fmt: str) -> str:
    if not re.search(r"%[^%]", fmt.replace("%%", "")):
        # without a directive every file "matches" 1900-01-01: refuse it when the pattern loads
        raise ValueError(
            f"date format {fmt!r} holds no strftime directive: write it with %, "
            f"for example {{date:%Y%m%d}} (directives: %{', %'.join(k for k in _DIRECTIVES if k != '%')})"
        )
    out = ""
    index = 0
    while index < len(fmt):
        char = fmt[index]
        if char == "%":
            if index + 1 >= len(fmt) or fmt[index + 1] not in _DIRECTIVES:
                directive = fmt[index : index + 2]
                raise ValueError(
                    f"date format {fmt!r}: {directive!r} is not supported in file names "
                    f"(use %{', %'.join(k for k in _DIRECTIVES if k != '%')})"
                )
            out += _DIRECTIVES[fmt[index + 1]]
            index += 2
        else:
            out += re.escape(char)
            index += 1
    return out
