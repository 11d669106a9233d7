"""`${globals.x}` substitution and `{env: NAME}` references in declarations."""

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.yaml_source import LineMap, line_of, render_path

_VARIABLE = re.compile(r"\$\{\s*globals\.([A-Za-z0-9_.]+)\s*\}")


@dataclass(frozen=True)
class EnvRef:
    """`{env: NAME}` in YAML: a value read from the environment when the run starts.

    Resources receive it as `dg.EnvVar(NAME)`, so secrets never sit in YAML or in the UI.
    """

    name: str


def unset_env_refs(data: Any, path: Sequence[str] = ("resources",)) -> list[str]:
    """`field.path: {env: NAME} is not set` for every EnvRef in `data` whose variable is unset."""
    found: list[str] = []
    if isinstance(data, EnvRef):
        if data.name not in os.environ:
            found.append(f"{'.'.join(path)}: {{env: {data.name}}} is not set")
    elif isinstance(data, dict):
        for key, item in data.items():
            found += unset_env_refs(item, (*path, str(key)))
    elif isinstance(data, list):
        for index, item in enumerate(data):
            found += unset_env_refs(item, (*path, str(index)))
    return found


def is_env_mapping(value: Any) -> bool:
    return isinstance(value, dict) and "env" in value and set(value) <= {"env", "default"}


def resolve_env(
    value: dict[str, Any], file: str, path: tuple[str | int, ...], lines: LineMap
) -> Any:
    """Resolve `{env: NAME, default: X}` now; `{env: NAME}` alone stays an EnvRef."""
    name = value["env"]
    if not isinstance(name, str) or not name:
        raise DeclarationError.single(
            file, render_path(path), "env needs a variable name", line_of(lines, path)
        )
    if "default" in value:
        return os.environ.get(name, value["default"])
    return EnvRef(name)


def substitute(
    data: Any,
    variables: dict[str, Any],
    *,
    file: str,
    lines: LineMap,
    path: tuple[str | int, ...] = (),
    eager_env: bool = False,
) -> Any:
    """Return `data` with `${globals.x}` replaced and `{env: ...}` mappings resolved.

    Args:
        data: parsed YAML.
        variables: the globals visible here (project globals overlaid by dataflow globals).
        file: file name for error messages.
        lines: field path -> line map of the file.
        path: where `data` sits in the file.
        eager_env: read every `{env: NAME}` now (for values that build paths, not secrets).
    """
    if isinstance(data, dict):
        if set(data) == {"ssm"} and isinstance(data["ssm"], str):
            return f"ssm:{data['ssm']}"  # read from Parameter Store when the resource uses it
        if is_env_mapping(data):
            value = resolve_env(data, file, path, lines)
            if eager_env and isinstance(value, EnvRef):
                if value.name not in os.environ:
                    raise DeclarationError.single(
                        file,
                        render_path(path),
                        f"environment variable {value.name} is not set",
                        line_of(lines, path),
                    )
                return os.environ[value.name]
            return value
        return {
            key: substitute(
                item, variables, file=file, lines=lines, path=(*path, key), eager_env=eager_env
            )
            for key, item in data.items()
        }
    if isinstance(data, list):
        return [
            substitute(
                item, variables, file=file, lines=lines, path=(*path, index), eager_env=eager_env
            )
            for index, item in enumerate(data)
        ]
    if isinstance(data, str) and "${" in data:
        return _substitute_text(data, variables, file, lines, path)
    return data


def _lookup(variables: dict[str, Any], dotted: str) -> Any:
    value: Any = variables
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def _substitute_text(
    text: str, variables: dict[str, Any], file: str, lines: LineMap, path: tuple[str | int, ...]
) -> Any:
    def fail(name: str) -> DeclarationError:
        known = ", ".join(sorted(variables)) or "none"
        return DeclarationError.single(
            file,
            render_path(path),
            f"${{globals.{name}}} is not defined (globals: {known})",
            line_of(lines, path),
        )

    whole = _VARIABLE.fullmatch(text.strip())
    if whole:  # a lone reference keeps the variable's type (number, list, ...)
        try:
            return _lookup(variables, whole.group(1))
        except KeyError:
            raise fail(whole.group(1)) from None

    def replace(match: re.Match[str]) -> str:
        try:
            return str(_lookup(variables, match.group(1)))
        except KeyError:
            raise fail(match.group(1)) from None

    return _VARIABLE.sub(replace, text)
