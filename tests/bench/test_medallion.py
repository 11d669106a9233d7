"""The TPC-H medallion at scale factor 0.01, as a correctness test of counts and checks.

Generates the data with tpchgen-cli into a temporary folder, runs the platform (the `tpch`
dataflow, all months in one run, through `dataplat run`) and the hand-written script, and
checks both against the data and each other. Timings are the benchmark's business
(bench/medallion.py), never asserted here.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.medallion import count_rows, run_handwritten, run_platform, verify

pytestmark = pytest.mark.slow
SCALE = 0.01


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tpch")
    cli = shutil.which("tpchgen-cli") or str(Path(sys.executable).parent / "tpchgen-cli")
    subprocess.run(
        [
            cli,
            "csv",
            "-s",
            str(SCALE),
            "--tables",
            "orders,lineitem",
            "--output-dir",
            str(root / "tpch"),
            "--no-progress",
        ],
        check=True,
        capture_output=True,
    )
    return root


def test_platform_and_hand_written_agree_on_every_figure(landing: Path, tmp_path: Path) -> None:
    platform = run_platform(landing, tmp_path / "platform")["figures"]
    verify("platform", platform, SCALE, landing)
    # every rule passed; a range of more than 31 windows reports one evaluation per check
    assert platform["passed_checks"] == 6 + 2 and platform["failed_checks"] == []

    handwritten = run_handwritten(landing, tmp_path / "by-hand")["figures"]
    verify("handwritten", handwritten, SCALE, landing)
    lineitem = count_rows(landing / "tpch" / "lineitem.csv")
    assert (
        platform["staging_lineitem"]["rows"] == handwritten["staging_lineitem"]["rows"] == lineitem
    )
    assert platform["business"]["revenue_rows"] == handwritten["business"]["revenue_rows"]
    assert platform["business"]["pricing_count"] == handwritten["business"]["pricing_count"]
    # money is float64: the engines sum in different orders, so they agree to about 1e-12
    assert platform["business"]["revenue_total"] == pytest.approx(
        handwritten["business"]["revenue_total"], rel=1e-9
    )
