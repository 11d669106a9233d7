"""Which environment profile (resources/<env>.yaml) the code location runs with."""

import os
from typing import Literal, cast

Environment = Literal["local", "aws"]
ENVIRONMENTS: tuple[Environment, ...] = ("local", "aws")
ENV_VAR = "DATAPLAT_ENV"


def get_environment() -> Environment:
    """Return the environment named by DATAPLAT_ENV, `local` when unset.

    Raises:
        ValueError: the variable names an environment that has no profile.
    """
    value = os.environ.get(ENV_VAR, "local").strip() or "local"
    if value not in ENVIRONMENTS:
        raise ValueError(
            f"{ENV_VAR}={value!r} is not a known environment; expected one of {', '.join(ENVIRONMENTS)}"
        )
    return cast(Environment, value)
