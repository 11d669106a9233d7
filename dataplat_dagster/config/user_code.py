"""User code: the Python transforms and rule functions that declarations name by dotted path.

A project keeps its own modules next to `definitions.py` (for example
`flights_transforms.py`, or a package folder with an `__init__.py`). The project root is put
on `sys.path` when the declarations load, so they import the same way from `dataplat`
(which starts wherever its script is installed), `dagster dev` (working directory of
workspace.yaml) and `dagster job execute -f definitions.py` alike.
"""

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


class UserCodeError(ValueError):
    """A dotted path that does not lead to a function; the message says what is there."""


def make_importable(project_root: Path) -> None:
    """Put the project root first on sys.path, as Python does for a script's folder."""
    root = str(project_root.resolve())
    if root not in sys.path:
        sys.path.insert(0, root)
        importlib.invalidate_caches()  # modules written since the last import are found too


def resolve_callable(dotted: str, project_root: Path | None = None) -> Callable[..., Any]:
    """The function at `package.module.function` (or `package.module:function`).

    Raises:
        UserCodeError: not a dotted path, the module cannot be imported (with the modules
            next to definitions.py), or it has no such function (with those it has).
    """
    module_name, _, attribute = dotted.replace(":", ".").rpartition(".")
    if not module_name:
        raise UserCodeError(f"{dotted!r} is not a dotted path such as package.module.function")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and (module_name + ".").startswith(exc.name + "."):  # not one it imports
            raise UserCodeError(
                f"cannot import module {module_name}: {exc}; {_where_user_code_is(project_root)}"
            ) from None
        raise UserCodeError(f"importing module {module_name} failed: {exc!r}") from None
    except Exception as exc:  # anything the module raises while importing: show it, not a trace
        raise UserCodeError(f"importing module {module_name} failed: {exc!r}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        own = sorted(
            name
            for name, value in vars(module).items()
            if callable(value)
            and not name.startswith("_")
            and getattr(value, "__module__", None) == module.__name__
        )
        raise UserCodeError(
            f"module {module_name} has no function {attribute} (it has: {', '.join(own) or 'none'})"
        )
    return function


def _where_user_code_is(project_root: Path | None) -> str:
    if project_root is None:
        return "user code goes next to definitions.py"
    modules = sorted(
        path.stem if path.suffix == ".py" else path.name
        for path in project_root.iterdir()
        if (path.suffix == ".py" and path.stem != "definitions")
        or (path.is_dir() and (path / "__init__.py").is_file())
    )
    return (
        f"user code goes next to definitions.py in {project_root} "
        f"(modules there: {', '.join(modules) or 'none'})"
    )
