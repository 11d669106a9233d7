"""Heavy optional libraries, imported only where a declaration uses them, and never fatally.

Great Expectations imports pyspark when it is installed, and pyspark's Spark Connect check
calls `sys.exit(0)` when the process's `__main__` has no file and a Connect dependency is
missing. Dagster's run worker is such a process: a bare import would end every run launched
by the daemon, a sensor, a schedule or the UI with `SystemExit: 0`. The `spark` extra
installs pyspark with its Connect dependencies, so the check passes; this module also turns
an exit raised while importing into an ImportError that names the library, so that a broken
environment fails one step with a reason instead of ending the process.
"""

import importlib
import sys
from types import ModuleType


class OptionalImportError(ImportError):
    """An optional library is missing or could not be imported in this environment."""


def import_optional(module: str, *, purpose: str, extra: str | None = None) -> ModuleType:
    """Import `module`, converting a missing package or an exit during import into an ImportError.

    Args:
        module: the dotted module name.
        purpose: what the platform needs it for (goes into the error message).
        extra: the package extra that installs it, when there is one.

    Raises:
        OptionalImportError: the module is missing or its import tried to end the process.
    """
    loaded = sys.modules.get(module)
    if loaded is not None:
        return loaded
    hint = f" (pip install 'dataplat_dagster[{extra}]')" if extra else ""
    try:
        return importlib.import_module(module)
    except SystemExit as exc:
        # A library's import-time check ended the import; the run worker survives and says why.
        _forget(module)
        cause = (
            "pyspark is installed without its Spark Connect dependencies "
            "(pip install 'pyspark[connect]', or the spark extra: 'dataplat_dagster[spark]')"
            if "pyspark" in sys.modules
            else f"a dependency it checks for at import time is missing{hint}"
        )
        raise OptionalImportError(
            f"importing {module} for {purpose} tried to end the process (SystemExit {exc.code}): "
            f"{cause}"
        ) from None
    except ImportError as exc:
        raise OptionalImportError(f"{module} is needed for {purpose}: {exc}{hint}") from exc


def _forget(module: str) -> None:
    """Drop the half-imported modules, so that a later import starts clean."""
    for name in [n for n in sys.modules if n == module or n.startswith(f"{module}.")]:
        del sys.modules[name]


def great_expectations() -> ModuleType:
    return import_optional("great_expectations", purpose="great_expectations rules", extra=None)
