"""Read YAML keeping, for every field path, the line it was written on.

PyYAML's composed node tree carries marks; we walk it once so that validation errors
can point at `file, line N` instead of leaving the user to search for the field.
"""

from pathlib import Path
from typing import Any

import yaml

from dataplat_dagster.config.errors import DeclarationError

# libyaml's parser when PyYAML was built with it: ten times the pure-Python one, which took
# most of the load time of a code location with a hundred dataflows
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

LineMap = dict[tuple[str | int, ...], int]


def read_yaml(path: Path, display: str | None = None) -> tuple[Any, LineMap]:
    """Parse a YAML file into plain data and a map from field path to line number."""
    label = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DeclarationError.single(label, "", f"cannot read file: {exc.strerror}") from exc
    try:
        node, data = _parse(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = f"not valid YAML: {getattr(exc, 'problem', None) or exc}"
        raise DeclarationError.single(label, "", reason, line) from exc
    lines: LineMap = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def _parse(text: str) -> tuple[yaml.Node | None, Any]:
    """The node tree (with line marks) and the data built from it: the text is parsed once."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        return node, (loader.construct_document(node) if node is not None else None)
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: tuple[str | int, ...], lines: LineMap) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[(*path, key)] = key_node.start_mark.line + 1
            _walk(value_node, (*path, key), lines)
            lines[(*path, key)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, (*path, index), lines)


def line_of(lines: LineMap, path: tuple[str | int, ...]) -> int | None:
    """The line of the deepest prefix of `path` that was written in the file."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def render_path(path: tuple[str | int, ...]) -> str:
    """`("staging", "orders", "steps", 1)` -> `staging.orders.steps[1]`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
