"""Turn pydantic's errors into problems that name the YAML field and line."""

from typing import Any

from pydantic import ValidationError

from dataplat_dagster.config.errors import Problem
from dataplat_dagster.config.yaml_source import LineMap, line_of, render_path

_MESSAGES = {
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check the spelling; see the README for the fields of each layer)",
}


def problems_from_validation(
    exc: ValidationError, lines: LineMap, data: Any = None
) -> list[Problem]:
    """One problem per pydantic error, with its location mapped onto the YAML document."""
    problems = []
    for error in exc.errors(include_url=False):
        path = _yaml_path(error["loc"], data)
        reason = _MESSAGES.get(error["type"], error["msg"])
        if error["type"] not in ("missing", "extra_forbidden") and _shown(error.get("input")):
            reason = f"{reason} (got {error['input']!r})"
        if reason.startswith("Value error, "):
            reason = reason.removeprefix("Value error, ")
        problems.append(Problem(render_path(path), reason, line_of(lines, path)))
    return problems


def _shown(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 80


def _yaml_path(loc: tuple[Any, ...], data: Any = None) -> tuple[str | int, ...]:
    """Map pydantic's `loc` onto the document's field path.

    Two kinds of entries exist in `loc` but not in the YAML: validator names such as
    `function-after[...]`, and discriminated-union tags, which repeat the key that follows.
    """
    del data
    from dataplat_dagster.config.rules import RULE_MODELS
    from dataplat_dagster.config.steps import STEP_MODELS

    tags = set(RULE_MODELS) | set(STEP_MODELS)
    parts = list(loc)
    path: list[str | int] = []
    for index, part in enumerate(parts):
        if isinstance(part, str) and "[" in part:
            continue
        if index + 1 < len(parts) and parts[index + 1] == part:
            continue
        # a tag right after a list index names the union member (a step or rule kind) whose
        # fields sit beside it in the YAML mapping: `rules[1].severity`, not `rules[1].range.severity`
        if (
            index > 0
            and isinstance(parts[index - 1], int)
            and part in tags
            and index + 1 < len(parts)
        ):
            continue
        path.append(part)
    return tuple(path)
