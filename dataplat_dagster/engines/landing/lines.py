"""Physical lines of a landing text file: counting, splitting, decoding, open quotes.

A line ends at LF, CR LF or a bare CR (what pyarrow's CSV reader and editors accept);
a final line ending does not start another line. These counts are made apart from the CSV
parser, so that what the parser returned can be checked against what the file holds.
"""

import codecs
import csv
import re
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa

Opener = Callable[[], pa.NativeFile]
_CHUNK = 1 << 24
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


def count_lines(opener: Opener) -> int:
    """Physical lines, blank ones included, streaming (the file is never held whole)."""
    lines, previous, cr_before = 0, b"", False
    stream = opener()
    while chunk := stream.read(_CHUNK):
        lines += chunk.count(b"\n")
        if b"\r" in chunk:  # most files have none: counting pairs costs a second pass
            pairs = chunk.count(b"\r\n") + (1 if cr_before and chunk[:1] == b"\n" else 0)
            lines += chunk.count(b"\r") - pairs
        elif cr_before and chunk[:1] == b"\n":
            lines -= 1  # the CR ending the chunk before and this LF are one line ending
        previous, cr_before = chunk[-1:], chunk[-1:] == b"\r"
    return lines + (1 if previous not in (b"", b"\n", b"\r") else 0)


def split_lines(data: bytes) -> list[bytes]:
    """The physical lines, without their endings (bytes.splitlines splits on LF, CR LF, CR only)."""
    return data.splitlines()


def nonblank_line_numbers(
    lines: list[str] | list[bytes], *, whitespace_is_blank: bool
) -> np.ndarray:
    """1-based numbers of the lines a reader sees as records.

    CSV readers skip empty lines only (a line of spaces is a one-field record); JSON readers
    skip lines of whitespace too.
    """
    if whitespace_is_blank:
        numbers = [n for n, line in enumerate(lines, start=1) if line.strip()]
    else:
        numbers = [n for n, line in enumerate(lines, start=1) if line]
    return np.array(numbers, dtype=np.int64)


def is_ascii_compatible(encoding: str) -> bool:
    """Whether line endings, delimiters and quotes are single ASCII bytes in `encoding`."""
    return 'a,"\r\n'.encode(codecs.lookup(encoding).name) == b'a,"\r\n'


def decode_lines(data: bytes, encoding: str) -> tuple[list[str], dict[int, str]]:
    """The file's lines as text, and the index -> reason of each line that does not decode.

    A line that does not decode becomes empty (the caller quarantines it with the reason);
    the others are read. A UTF-8 byte order mark is dropped.

    Raises:
        UnicodeDecodeError: an encoding whose line endings are not single bytes (UTF-16, ...)
            that does not decode: its lines cannot be found.
    """
    name = codecs.lookup(encoding).name
    if not is_ascii_compatible(encoding):
        lines = _LINE_BREAK.split(data.decode(name))
        if lines and lines[-1] == "":
            lines.pop()  # the final line ending ends the last line, it starts none
        return _strip_bom(lines), {}
    raw = split_lines(data)
    try:
        return _strip_bom(_decode_all(raw, name)), {}
    except UnicodeDecodeError:
        pass
    lines, bad = [], {}
    for index, line in enumerate(raw):
        try:
            lines.append(line.decode(name))
        except UnicodeDecodeError as exc:
            shown = line.decode(name, errors="backslashreplace")
            bad[index] = (
                f"not valid {encoding} (byte 0x{line[exc.start]:02x} at byte "
                f"{exc.start + 1} of the line): {shown!r}"
            )
            lines.append("")
    return _strip_bom(lines), bad


def _decode_all(raw: list[bytes], name: str) -> list[str]:
    # one decode of the whole text is much faster than one per line; lines hold no \r or \n
    return b"\n".join(raw).decode(name).split("\n") if raw else []


def _strip_bom(lines: list[str]) -> list[str]:
    if lines and lines[0].startswith(_BOM):
        lines[0] = lines[0][1:]
    return lines


def spanning_records(lines: list[str], start: int, delimiter: str, quote: str) -> dict[int, int]:
    """Lines whose record does not end with them: index -> physical lines the record takes.

    Replays the CSV grammar from line `start` (a quote opens only at the start of a field,
    as in pyarrow's reader); after a record that ran over several lines, it starts again on
    the line after the one that opened it, since that line is quarantined alone.
    """
    found: dict[int, int] = {}
    index = start
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)  # an open quote can swallow the rest of a large file
    try:
        while index < len(lines):
            reader = csv.reader(
                _from(lines, index), delimiter=delimiter, quotechar=quote, strict=False
            )
            consumed = 0
            for _ in reader:
                taken = reader.line_num - consumed
                if taken > 1:
                    found[index + consumed] = taken
                    index += consumed + 1
                    break
                consumed = reader.line_num
            else:
                break
    finally:
        csv.field_size_limit(limit)
    return found


def record_start_lines(lines: list[str], delimiter: str, quote: str) -> np.ndarray:
    """1-based number of the first line of every record (for values holding line breaks)."""
    starts = []
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        reader = csv.reader(lines, delimiter=delimiter, quotechar=quote, strict=False)
        before = 0
        for record in reader:
            if record:  # an empty line is no record
                starts.append(before + 1)
            before = reader.line_num
    finally:
        csv.field_size_limit(limit)
    return np.array(starts, dtype=np.int64)


def _from(lines: list[str], index: int) -> Iterator[str]:
    return (lines[i] for i in range(index, len(lines)))
