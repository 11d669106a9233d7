"""Where contracts are deployed: built-in targets and every connection of the profile.

`sqlite_memory`, `sqlite_file`, `postgres` and `mysql` are always known; each URL comes
from `DATAPLAT_TARGET_<NAME>_URL`, else a local default. A connection of the profile's
`resources.databases` is a target of its own name (and wins over a built-in one).
"""

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from dataplat_dagster.config.profile import Profile

BUILT_IN_URLS: dict[str, str] = {
    "sqlite_memory": "sqlite://",
    "sqlite_file": "sqlite:///{home}/contracts.db",
    "postgres": "postgresql+psycopg2://postgres@127.0.0.1:5432/dataplat",
    "mysql": "mysql+pymysql://root@127.0.0.1:3306/dataplat",
}


class UnknownTarget(ValueError):
    """A target name that is neither built in nor a connection of the profile."""


@dataclass(frozen=True)
class Target:
    name: str
    origin: str  # "built-in" or "profile"
    url: str  # without the password
    connect: Callable[[], sa.Engine]


def url_variable(name: str) -> str:
    return f"DATAPLAT_TARGET_{name.upper()}_URL"


def known_targets(profile: Profile) -> dict[str, Target]:
    """Every target by name: the built-in ones, then the profile's connections."""
    home = profile.local_path(profile.globals_.get("home", ".dataplat"))
    targets: dict[str, Target] = {}
    for name, default in BUILT_IN_URLS.items():
        url = os.environ.get(url_variable(name)) or default.format(home=home.as_posix())
        targets[name] = Target(name, "built-in", url, _connector(url))
    connections = profile.resources.get("databases", {}).get("connections", {})
    for name, connection in connections.items():
        targets[name] = Target(
            name, "profile", str(connection["url"]), _profile_engine(profile, name)
        )
    return targets


def pick(targets: dict[str, Target], names: list[str]) -> list[Target]:
    unknown = [name for name in names if name not in targets]
    if unknown:
        raise UnknownTarget(
            f"unknown target {', '.join(unknown)}; known: {', '.join(sorted(targets))}"
        )
    return [targets[name] for name in names]


def _connector(url: str) -> Callable[[], sa.Engine]:
    def connect() -> sa.Engine:
        parsed = sa.make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(parsed)

    return connect


def _profile_engine(profile: Profile, name: str) -> Callable[[], sa.Engine]:
    def connect() -> sa.Engine:
        # the databases resource adds the password (environment or SSM) and the drivers
        from dataplat_dagster.resources import build_resources

        return build_resources(profile)["databases"].engine(name)

    return connect
