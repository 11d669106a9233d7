"""build_resources(profile) for the local profile, and DatabasesResource.

Covers: every resource key built with its local class, local paths anchored at the
project root or at DATAPLAT_HOME, SQLite URLs made absolute, DeclarationErrors naming
`resources.<key>` (unknown type, missing or unknown key, invalid field), `{env: NAME}`
becoming a `dg.EnvVar` that Dagster resolves at run time, and DatabasesResource engines by
name. Profiles are read from the repository's resources/ (read only) or from a copy on
tmp_path; state goes to tmp_path. The AWS profile and the asset factories are not touched.
"""

from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.profile import load_profile
from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.resources import build_resources, kinds_of
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.catalog import LocalCatalog
from dataplat_dagster.resources.databases import DatabasesResource
from dataplat_dagster.resources.file_store import LocalFileStore
from dataplat_dagster.resources.io_managers import LocalParquetIOManager
from dataplat_dagster.resources.metrics import LocalMetrics
from dataplat_dagster.resources.notifier import NotifierResource, OutboxNotifier
from tests.conftest import PROJECT_ROOT, write_project

EXPECTED_CLASSES = {
    "io_manager": LocalParquetIOManager,
    "engine": PandasEngine,
    "catalog": LocalCatalog,
    "metrics": LocalMetrics,
    "notifier": OutboxNotifier,
    "file_store": LocalFileStore,
    "exports": LocalFileStore,
    "databases": DatabasesResource,
    "aws": AwsResource,  # shared AWS settings; unused (never connects) by the local classes
}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("DATAPLAT_HOME", str(home))
    monkeypatch.delenv("DATAPLAT_LANDING_ROOT", raising=False)
    return home


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the repository's resources/ under tmp_path, with a relative DATAPLAT_HOME."""
    monkeypatch.setenv("DATAPLAT_HOME", ".state")
    monkeypatch.delenv("DATAPLAT_LANDING_ROOT", raising=False)
    return write_project(tmp_path / "project", {})


def build_edited(project: Path, old: str, new: str) -> dict:
    profile_file = project / "resources" / "local.yaml"
    text = profile_file.read_text()
    assert old in text, f"{old!r} not in local.yaml"
    profile_file.write_text(text.replace(old, new))
    return build_resources(load_profile(project / "resources", "local", project))


def problem_fields(error: DeclarationError) -> list[str]:
    return [problem.field for problem in error.problems]


def test_every_key_is_built_with_its_local_class(home: Path) -> None:
    built = build_resources(load_profile(PROJECT_ROOT / "resources", "local", PROJECT_ROOT))

    assert set(built) == set(EXPECTED_CLASSES)
    for key, cls in EXPECTED_CLASSES.items():
        assert type(built[key]) is cls, key
    # the IO manager uses the very engine and catalogue of the profile
    assert built["io_manager"].engine is built["engine"]
    assert built["io_manager"].catalog is built["catalog"]
    assert kinds_of(load_profile(PROJECT_ROOT / "resources", "local", PROJECT_ROOT)) == {
        "pandas",
        "parquet",
    }


def test_state_goes_under_dataplat_home_and_landing_under_the_project(home: Path) -> None:
    built = build_resources(load_profile(PROJECT_ROOT / "resources", "local", PROJECT_ROOT))

    assert Path(built["io_manager"].root) == home / "warehouse"
    assert Path(built["catalog"].path) == home / "catalog.db"
    assert Path(built["metrics"].path) == home / "metrics.db"
    assert Path(built["notifier"].folder) == home / "outbox"
    assert Path(built["exports"].root) == home / "exports"
    assert Path(built["file_store"].root) == PROJECT_ROOT / "demo" / "landing"
    assert built["databases"].connections["reporting"].url == f"sqlite:///{home}/reporting.db"
    assert built["notifier"].recipients == ["data-platform@example.com"]
    assert not home.exists()  # building connects to nothing and creates nothing


def test_relative_paths_and_sqlite_urls_are_anchored_at_the_project_root(project: Path) -> None:
    built = build_edited(
        project,
        'reporting: {url: "sqlite:///${globals.home}/reporting.db"}',
        'reporting: {url: "sqlite:///${globals.home}/reporting.db"}\n      memo: {url: "sqlite:///memo.db"}',
    )

    state = project.resolve() / ".state"
    assert Path(built["io_manager"].root) == state / "warehouse"
    assert Path(built["catalog"].path) == state / "catalog.db"
    assert Path(built["file_store"].root) == project.resolve() / "demo" / "landing"
    connections = built["databases"].connections
    assert connections["reporting"].url == f"sqlite:///{state}/reporting.db"
    assert connections["memo"].url == f"sqlite:///{project.resolve()}/memo.db"
    assert connections["reporting"].url.startswith("sqlite:////")


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        ("sqlite:///:memory:", "sqlite:///:memory:"),  # an in-memory database is not a file path
        (
            "sqlite+pysqlite:///memo.db",
            "sqlite+pysqlite:///{root}/memo.db",
        ),  # a driver suffix is still SQLite
    ],
    ids=["memory", "driver-suffix"],
)
def test_other_sqlite_url_forms(project: Path, declared: str, expected: str) -> None:
    built = build_edited(
        project,
        'reporting: {url: "sqlite:///${globals.home}/reporting.db"}',
        f'reporting: {{url: "{declared}"}}',
    )

    assert built["databases"].connections["reporting"].url == expected.format(
        root=project.resolve()
    )


def test_an_unknown_resource_type_names_the_key(project: Path) -> None:
    with pytest.raises(DeclarationError) as caught:
        build_edited(project, "type: sqlite_metrics", "type: cloudwatch_typo")

    assert problem_fields(caught.value) == ["resources.metrics.type"]
    assert "cloudwatch_typo" in str(caught.value)
    assert "resources/local.yaml" in str(caught.value)


def test_a_missing_resource_key_names_it(project: Path) -> None:
    with pytest.raises(DeclarationError) as caught:
        build_edited(
            project, '  exports: {type: local_files, root: "${globals.home}/exports"}\n', ""
        )

    assert problem_fields(caught.value) == ["resources.exports"]
    assert "required resource is not configured" in str(caught.value)


def test_an_unknown_resource_key_names_it(project: Path) -> None:
    with pytest.raises(DeclarationError) as caught:
        build_edited(project, "  databases:\n", "  pager: {type: outbox}\n  databases:\n")

    assert problem_fields(caught.value) == ["resources.pager"]
    assert "unknown resource key" in str(caught.value)


def test_an_invalid_field_names_the_resource(project: Path) -> None:
    with pytest.raises(DeclarationError) as caught:
        build_edited(project, "    sender: dataplat@localhost\n", "")

    assert problem_fields(caught.value) == ["resources.notifier"]
    assert "sender" in str(caught.value)


def test_env_references_become_env_vars_resolved_at_run_time(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_edited(
        project, "sender: dataplat@localhost", "sender: {env: TEST_DATAPLAT_SENDER}"
    )

    sender = built["notifier"].sender
    assert isinstance(sender, dg.EnvVar)
    assert sender.env_var_name == "TEST_DATAPLAT_SENDER"

    seen: list[str] = []

    @dg.asset
    def uses_notifier(notifier: NotifierResource) -> None:
        seen.append(notifier.sender)

    monkeypatch.setenv("TEST_DATAPLAT_SENDER", "ops@example.org")
    assert dg.materialize([uses_notifier], resources={"notifier": built["notifier"]}).success
    assert seen == ["ops@example.org"]


def test_env_references_inside_database_connections(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = build_edited(
        project,
        "      reporting:",
        '      warehouse: {url: "postgresql+psycopg2://etl@db.example.org/dw", password: {env: TEST_DW_PASSWORD}}\n      reporting:',
    )
    password = built["databases"].connections["warehouse"].password
    assert isinstance(password, dg.EnvVar) and password.env_var_name == "TEST_DW_PASSWORD"

    urls: list[str] = []

    @dg.asset
    def uses_databases(databases: DatabasesResource) -> None:
        urls.append(databases.engine("warehouse").url.render_as_string(hide_password=False))

    monkeypatch.setenv("TEST_DW_PASSWORD", "s3cret")
    assert dg.materialize([uses_databases], resources={"databases": built["databases"]}).success
    assert urls == ["postgresql+psycopg2://etl:s3cret@db.example.org/dw"]


def test_databases_engine_by_name(tmp_path: Path) -> None:
    database = tmp_path / "deep" / "reporting.db"
    resource = DatabasesResource(connections={"reporting": {"url": f"sqlite:///{database}"}})

    engine = resource.engine("reporting")
    assert engine is resource.engine("reporting")
    with engine.begin() as connection:
        connection.execute(sa.text("create table t (x integer)"))
        connection.execute(sa.text("insert into t values (41), (1)"))
    with engine.connect() as connection:
        assert connection.execute(sa.text("select sum(x) from t")).scalar() == 42
    assert database.is_file()


def test_databases_unknown_name_is_a_clear_key_error(tmp_path: Path) -> None:
    resource = DatabasesResource(
        connections={
            "reporting": {"url": f"sqlite:///{tmp_path}/r.db"},
            "audit": {"url": f"sqlite:///{tmp_path}/a.db"},
        }
    )

    with pytest.raises(KeyError) as caught:
        resource.engine("reportng")
    message = str(caught.value)
    assert "no database connection named 'reportng'" in message
    assert "known: audit, reporting" in message
    with pytest.raises(KeyError, match="known: none"):
        DatabasesResource().engine("reporting")
