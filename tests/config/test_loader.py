"""Loading declarations: the demo project, the defaults chain, globals and `{env: ...}` values.

Covers `dataplat_dagster.config.loader.load_project` / `load_dataflows` and
`dataplat_dagster.config.plan.build_plan` on valid projects, plus the two loader-level
rules that involve several dataflow folders (duplicate names, stopping at the first bad
file). Declaration mistakes are in test_loader_errors.py and test_plan_errors.py.
Nothing here runs Dagster, reads landing files or touches state outside tmp_path.
"""

from pathlib import Path

import pytest

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.config.loader import load_dataflows, load_project
from dataplat_dagster.config.plan import TableId, build_plan
from dataplat_dagster.config.profile import load_profile
from dataplat_dagster.config.substitution import EnvRef
from tests.conftest import PROJECT_ROOT, write_project

# A small valid dataflow with two sources, one dated and one a dimension.
VALID = """\
dataflow: shop
owners: [team:shop]
partitioning: {granularity: daily, timezone: UTC, start: "2024-01-01"}
globals:
  source_system: till
  currency: EUR

landing:
  orders:
    path: "shop/orders_{date:%Y%m%d}.csv"
    schema:
      order_id: int64
      amount: string
  stores:
    path: shop/stores.jsonl
    format: jsonl
    schema: {store_id: int64}

raw:
  orders: {from: landing.orders}
  stores: {from: landing.stores, source_system: erp, owners: [ops@example.com]}

staging:
  orders:
    from: raw.orders
    steps:
      - trim
      - {cast: {amount: float64}}
      - {derive: {currency: "'${globals.currency}'", label: "'${globals.source_system}-x'"}}
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DATAPLAT_HOME under tmp_path; the project tree goes to tmp_path / 'project'."""
    state = tmp_path / "state"
    monkeypatch.setenv("DATAPLAT_HOME", str(state))
    return state


def load(tmp_path: Path, dataflows: dict[str, str], **kwargs: object):
    root = write_project(tmp_path / "project", dataflows, **kwargs)  # type: ignore[arg-type]
    return load_project(root, "local")


# -- the demo project -------------------------------------------------------------------------


def test_demo_project_loads_and_plans(local_env: Path) -> None:
    project = load_project(PROJECT_ROOT, "local")
    # benchmark dataflows live under bench/dataflows, outside the code location
    assert [d.spec.dataflow for d in project.dataflows] == ["retail"]
    assert project.dataflows[0].file == "assets/retail/dataflow.yaml"
    plan = build_plan(project.dataflows)
    assert TableId("retail", "common", "orders_enriched") in plan.tables
    enriched = plan[TableId("retail", "common", "orders_enriched")]
    assert set(enriched.inputs) == {
        TableId("retail", "staging", "orders"),
        TableId("retail", "common", "customers"),
        TableId("retail", "staging", "products"),
    }
    assert enriched.sql is not None and "{{ staging.orders }}" in enriched.sql
    assert plan[TableId("retail", "business", "customer_value")].python is not None
    # daily windows come down from the dated landing source; the customer snapshot is unpartitioned
    assert plan[TableId("retail", "business", "daily_revenue")].partitioned
    assert not plan[TableId("retail", "common", "customers")].partitioned


def test_demo_defaults_chain(local_env: Path) -> None:
    spec = load_project(PROJECT_ROOT, "local").dataflows[0].spec
    # the dataflow's owners win over resources/base.yaml `defaults.all.owners`
    assert spec.raw["orders"].owners == ["team:retail-analytics"]
    assert spec.output["daily_revenue_table"].owners == ["team:retail-analytics"]
    # dataflow globals whose names are table parameters fill those parameters; the table wins
    assert spec.raw["orders"].source_system == "shop"
    assert spec.raw["products"].source_system == "catalogue"
    # base.yaml `defaults.landing.format` is csv; an explicit format wins
    assert spec.landing["customers"].format == "csv"
    assert spec.landing["products"].format == "jsonl"


def test_demo_globals_substituted_in_steps(local_env: Path) -> None:
    spec = load_project(PROJECT_ROOT, "local").dataflows[0].spec
    derive = spec.staging["orders"].steps[1]
    assert derive.kind == "derive"
    assert derive.params["currency"] == "'EUR'"
    # the dataflow keeps its globals as written
    assert spec.globals_ == {"source_system": "shop", "currency": "EUR"}


# -- defaults chain on a generated project ----------------------------------------------------


def test_small_project_loads_with_defaults(tmp_path: Path, home: Path) -> None:
    project = load(tmp_path, {"shop": VALID})
    spec = project.dataflows[0].spec
    assert spec.landing["orders"].format == "csv"  # base.yaml default
    assert spec.landing["stores"].format == "jsonl"
    assert spec.raw["orders"].source_system == "till"  # from globals
    assert spec.raw["stores"].source_system == "erp"  # table wins
    assert spec.raw["orders"].owners == ["team:shop"]
    assert spec.raw["stores"].owners == ["ops@example.com"]
    assert spec.staging["orders"].steps[2].params == {"currency": "'EUR'", "label": "'till-x'"}
    plan = build_plan(project.dataflows)
    assert plan[TableId("shop", "staging", "orders")].inputs == [TableId("shop", "raw", "orders")]
    assert plan[TableId("shop", "staging", "orders")].partitioning == spec.partitioning
    assert plan[TableId("shop", "raw", "stores")].partitioning is None


def test_project_owners_apply_when_dataflow_has_none(tmp_path: Path, home: Path) -> None:
    text = VALID.replace("owners: [team:shop]\n", "")
    spec = load(tmp_path, {"shop": text}).dataflows[0].spec
    assert spec.raw["orders"].owners == ["team:data-platform"]  # resources/base.yaml
    assert spec.raw["stores"].owners == ["ops@example.com"]


def test_dataflow_defaults_override_project_defaults(tmp_path: Path, home: Path) -> None:
    text = VALID.replace(
        "globals:",
        "defaults:\n  landing: {format: parquet}\n  all: {tags: {tier: gold}}\nglobals:",
        1,
    )
    spec = load(tmp_path, {"shop": text}).dataflows[0].spec
    assert spec.landing["orders"].format == "parquet"  # dataflow default over base.yaml csv
    assert spec.landing["stores"].format == "jsonl"  # table value over both
    assert spec.raw["orders"].tags == {"tier": "gold"}
    assert spec.staging["orders"].tags == {"tier": "gold"}


# -- {env: ...} values ------------------------------------------------------------------------

ENV_FLOW = (
    VALID
    + """\
business:
  value:
    from: staging.orders
    description: {env: SHOP_DESCRIPTION, default: "spend per customer"}
    python: dataplat_dagster.transforms.retail.customer_value
    params:
      token: {env: SHOP_TOKEN}
      top: {env: SHOP_TOP, default: 5}
"""
)


def test_env_without_default_stays_a_reference(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", "secret")  # set or not, the value is not read at load time
    monkeypatch.delenv("SHOP_TOP", raising=False)
    monkeypatch.delenv("SHOP_DESCRIPTION", raising=False)
    table = load(tmp_path, {"shop": ENV_FLOW}).dataflows[0].spec.business["value"]
    assert table.params["token"] == EnvRef("SHOP_TOKEN")
    assert table.params["top"] == 5
    assert table.description == "spend per customer"


def test_env_with_default_reads_the_environment(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOP", "7")
    monkeypatch.setenv("SHOP_DESCRIPTION", "from the environment")
    table = load(tmp_path, {"shop": ENV_FLOW}).dataflows[0].spec.business["value"]
    assert table.params["top"] == "7"
    assert table.description == "from the environment"


def test_env_in_globals_feeds_table_parameters(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_SYSTEM", "pos")
    text = VALID.replace("source_system: till", "source_system: {env: SHOP_SYSTEM, default: till}")
    spec = load(tmp_path, {"shop": text}).dataflows[0].spec
    assert spec.raw["orders"].source_system == "pos"
    assert spec.staging["orders"].steps[2].params["label"] == "'pos-x'"


# -- several dataflow folders -----------------------------------------------------------------


def test_several_dataflows_load_in_folder_order(tmp_path: Path, home: Path) -> None:
    project = load(
        tmp_path,
        {
            "b_shop": VALID.replace("dataflow: shop", "dataflow: b_shop"),
            "a_shop": VALID.replace("dataflow: shop", "dataflow: a_shop"),
        },
    )
    assert [d.spec.dataflow for d in project.dataflows] == ["a_shop", "b_shop"]
    assert [d.file for d in project.dataflows] == [
        "assets/a_shop/dataflow.yaml",
        "assets/b_shop/dataflow.yaml",
    ]
    plan = build_plan(project.dataflows)
    assert {t.dataflow for t in plan.tables} == {"a_shop", "b_shop"}


def test_same_dataflow_name_in_two_folders(tmp_path: Path, home: Path) -> None:
    with pytest.raises(DeclarationError) as caught:
        load(tmp_path, {"shop": VALID, "shop_copy": VALID})
    message = str(caught.value)
    assert "assets/shop_copy/dataflow.yaml, line 1: dataflow: " in message
    assert "'shop' is already declared in assets/shop/dataflow.yaml" in message


@pytest.mark.parametrize("bad_folder", ["a_bad", "z_bad"])
def test_loading_stops_at_the_bad_dataflow(tmp_path: Path, home: Path, bad_folder: str) -> None:
    """Whether the bad file comes first or last, load_dataflows raises instead of returning the good ones."""
    good = VALID.replace("dataflow: shop", "dataflow: m_good")
    bad = VALID.replace("dataflow: shop", f"dataflow: {bad_folder}").replace(
        "format: jsonl", "format: xml"
    )
    root = write_project(tmp_path / "project", {"m_good": good, bad_folder: bad})
    profile = load_profile(root / "resources", "local", root)
    with pytest.raises(DeclarationError) as caught:
        load_dataflows(root / "assets", profile)
    assert caught.value.file == f"assets/{bad_folder}/dataflow.yaml"
    assert "m_good" not in str(caught.value)
    assert "landing.stores.format" in str(caught.value)


def test_folders_without_dataflow_file_are_ignored(tmp_path: Path, home: Path) -> None:
    project = load(
        tmp_path,
        {"shop": VALID},
        files={"assets/notes/readme.txt": "not a dataflow", "assets/_draft/dataflow.yaml": "{{"},
    )
    assert [d.spec.dataflow for d in project.dataflows] == ["shop"]
