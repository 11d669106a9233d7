"""Which engine's frames a user function is written for, read from its type annotations.

A Python transform or custom rule annotated with pandas types (`pd.DataFrame`, `pd.Series`)
is a Pandas function; one annotated with pyspark types (`DataFrame`, `Column` of
`pyspark.sql`) is a Spark one. The annotation is the declaration: a table whose engine is
only inherited (from its dataflow, `defaults` or the profile) runs on the engine its functions
are written for, and a table that names its own `engine` must agree with them. Unannotated
functions follow the table's engine.
"""

import ast
import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from typing import Any, Literal

FrameKind = Literal["pandas", "spark"]


def frame_kind(function: Callable[..., Any]) -> FrameKind | None:
    """The library (pandas or spark) of every frame type the annotations name, if just one."""
    kinds = {kind for kind in map(_kind, _annotations(function)) if kind is not None}
    return kinds.pop() if len(kinds) == 1 else None


def describe(function: Callable[..., Any]) -> str:
    name = getattr(function, "__qualname__", getattr(function, "__name__", repr(function)))
    return f"{getattr(function, '__module__', '?')}.{name}"


def _annotations(function: Callable[..., Any]) -> Iterator[Any]:
    target = inspect.unwrap(function)
    try:
        annotations = inspect.get_annotations(target, eval_str=True)
    except Exception:  # a name imported only under TYPE_CHECKING: resolved from the source
        try:
            annotations = inspect.get_annotations(target)
        except TypeError:  # not a function (a callable object without annotations)
            return
        imports = _imports(getattr(target, "__module__", ""))
        for value in annotations.values():
            if isinstance(value, str):
                yield from (_Named(imports.get(name, "")) for name in _names(value))
            else:
                yield from _flatten(value)
        return
    for annotation in annotations.values():
        yield from _flatten(annotation)


class _Named:
    """An annotation known by the module it names, not by an object."""

    def __init__(self, module: str) -> None:
        self.__module__ = module


def _names(text: str) -> list[str]:
    """The names an annotation's text uses (`pd` of `pd.DataFrame`, `DataFrame`)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return []
    return [node.id for node in ast.walk(tree) if isinstance(node, ast.Name)]


def _imports(module_name: str) -> dict[str, str]:
    """Name -> module of every import in a module's source (TYPE_CHECKING blocks included)."""
    module = sys.modules.get(module_name)
    try:
        tree = ast.parse(inspect.getsource(module)) if module else None
    except (OSError, TypeError, SyntaxError):
        tree = None
    names: dict[str, str] = {}
    for node in ast.walk(tree) if tree else ():
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0]: a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {a.asname or a.name: node.module for a in node.names}
    return names


def _flatten(annotation: Any) -> Iterator[Any]:
    """An annotation and the types inside it (`dict[str, pd.DataFrame]`, `X | None`)."""
    yield annotation
    for argument in typing.get_args(annotation):
        yield from _flatten(argument)


def _kind(annotation: Any) -> FrameKind | None:
    module = getattr(annotation, "__module__", "") or ""
    if module == "pandas" or module.startswith("pandas."):
        return "pandas"
    if module == "pyspark" or module.startswith("pyspark."):
        return "spark"
    return None
