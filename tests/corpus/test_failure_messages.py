"""The fault corpus: each expected failure as an on-call engineer meets it, through `dataplat`.

Every case runs the real command line in a subprocess on a copy of the demo project and
asserts the documented exit code, that nothing printed a Python traceback, and that one line
names what broke (file, server, table, window) and what to do. Faults are real: a tmpfs too
small for the warehouse, random bytes as metrics.db or catalog.db, an SMTP server refusing the
login and a closed port, PostgreSQL on a port nobody listens on, a catalogue held locked by
another process, a secret left unset, bad landing files.
"""

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.conftest import (
    PROJECT_ROOT,
    free_port,
    postgres_dagster_home,
    run_command,
)
from tests.conftest import dataplat_command as dataplat

WINDOW = "2024-01-03"
ORDERS = f"orders_{WINDOW.replace('-', '')}.csv"
EXPORT = f"daily_revenue_{WINDOW.replace('-', '')}.csv"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the demo project (assets/ and resources/) that a case may change."""
    root = tmp_path / "project"
    for folder in ("assets", "resources"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    return root


@pytest.fixture
def env(tmp_path: Path, landing_copy: Path) -> dict[str, str]:
    variables = {k: v for k, v in os.environ.items() if not k.startswith(("DATAPLAT_", "DAGSTER_"))}
    return {
        **variables,
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_LANDING_ROOT": str(landing_copy),
    }


def run(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_command(dataplat("--project-dir", str(project), *args), env)


def run_window(project: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    return run(project, env, "run", "retail", "--partition", WINDOW, *extra)


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    printed = result.stdout + result.stderr
    assert "Traceback" not in printed and "Stack Trace" not in printed, printed[-4000:]


def lines_with(text: str, *fragments: str) -> list[str]:
    """The lines of `text` holding every fragment: the one line that names the thing."""
    return [line for line in text.splitlines() if all(f in line for f in fragments)]


def overlay(project: Path, text: str) -> None:
    """Add `text` (YAML) to the project's resources/local.yaml, overriding what it sets."""
    local = project / "resources" / "local.yaml"
    local.write_text(local.read_text() + "\n" + text)


# -- a secret left unset ----------------------------------------------------------------------


def test_unset_secret_stops_the_run_and_validate_warns(project: Path, env: dict[str, str]) -> None:
    overlay(
        project,
        "  databases:\n    type: databases\n    connections:\n"
        '      reporting: {url: "sqlite:///${globals.home}/reporting.db",'
        " password: {env: DATAPLAT_TEST_REPORTING_PASSWORD}}\n",
    )
    env.pop("DATAPLAT_TEST_REPORTING_PASSWORD", None)
    checked = run(project, env, "validate")
    assert checked.returncode == 10, checked.stderr[-3000:]
    assert lines_with(
        checked.stdout,
        "warning: resources/local.yaml",
        "resources.databases.connections.reporting.password",
        "{env: DATAPLAT_TEST_REPORTING_PASSWORD} is not set",
    ), checked.stdout
    assert "valid with warnings" in checked.stdout
    result = run_window(project, env)
    assert result.returncode == 20
    assert_no_traceback(result)
    assert lines_with(result.stderr, "{env: DATAPLAT_TEST_REPORTING_PASSWORD} is not set", "export")
    set_now = run(project, {**env, "DATAPLAT_TEST_REPORTING_PASSWORD": "x"}, "validate")
    assert set_now.returncode == 0 and "valid: 1 dataflow(s)" in set_now.stdout


# -- the SMTP server refusing the login, or down, after the outputs were written --------------


class RefusingInbox:
    async def handle_DATA(self, server, session, envelope) -> str:
        return "250 OK"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535


@pytest.fixture
def refusing_smtp() -> Iterator[int]:
    controller = Controller(
        RefusingInbox(),
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=RefusingInbox().authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield controller.port
    controller.stop()


def smtp_notifier(project: Path, port: int) -> None:
    overlay(
        project,
        "  notifier:\n    type: smtp\n    host: 127.0.0.1\n"
        f"    port: {port}\n    starttls: false\n    username: dataplat\n    password: wrong\n"
        "    timeout: 5\n    sender: dataplat@localhost\n    recipients: [ops@example.com]\n",
    )


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
@pytest.mark.parametrize("server", ["refusing_login", "closed_port"])
def test_smtp_failure_after_outputs_is_a_warning(
    project: Path, env: dict[str, str], tmp_path: Path, server: str, request: pytest.FixtureRequest
) -> None:
    port = request.getfixturevalue("refusing_smtp") if server == "refusing_login" else free_port()
    smtp_notifier(project, port)
    result = run_window(project, env, "--json")
    assert_no_traceback(result)
    summary = json.loads(result.stdout)
    # the window's own outcome decides: a WARN check (code 10), as with a working server
    assert result.returncode == 10 and summary["status"] == "success_with_warnings"
    assert (tmp_path / "state" / "exports" / "retail" / EXPORT).exists()  # the output stays
    sent = [w for w in summary["warnings"] if f"SMTP server 127.0.0.1:{port}" in w]
    assert sent and all("was not sent" in w for w in sent), summary["warnings"]
    assert ("535" in sent[0]) if server == "refusing_login" else ("refused" in sent[0].lower())
    assert summary["errors"] == []


# -- the Dagster instance's PostgreSQL unreachable --------------------------------------------


def test_unreachable_dagster_postgres_names_host_port_database(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()  # nobody listens there
    pg = postgres_dagster_home(tmp_path / "dagster", "dataplat_instance")
    result = run_window(project, {**env, **pg, "DAGSTER_PG_PORT": str(port)})
    assert result.returncode == 30
    assert_no_traceback(result)
    assert lines_with(
        result.stderr, f"postgresql://127.0.0.1:{port}/dataplat_instance", "cannot be reached"
    ), result.stderr[-3000:]
    assert "Connection refused" in result.stderr


# -- corrupt SQLite files of the platform -----------------------------------------------------


@pytest.mark.parametrize(("file", "what"), [("metrics.db", "metrics"), ("catalog.db", "catalogue")])
def test_corrupt_sqlite_file_is_named(
    project: Path, env: dict[str, str], tmp_path: Path, file: str, what: str
) -> None:
    path = tmp_path / "state" / file
    path.parent.mkdir(parents=True)
    path.write_bytes(os.urandom(8192))
    result = run_window(project, env, "--json")
    assert result.returncode == 30
    assert_no_traceback(result)
    summary = json.loads(result.stdout)
    named = [e for e in summary["errors"] if f"the {what} database {path} cannot be used" in e]
    assert named and all("move it away" in e for e in named), summary["errors"]
    assert not any("attempts" in e for e in named)  # not retried: waiting does not fix it


# -- the catalogue locked by another process --------------------------------------------------


def test_locked_catalogue_says_it_waits_then_goes_on(
    project: Path, env: dict[str, str], tmp_path: Path
) -> None:
    assert run_window(project, env).returncode == 10  # catalog.db exists
    holder = sqlite3.connect(tmp_path / "state" / "catalog.db", isolation_level=None)
    holder.execute("begin exclusive")  # another process writing to it (a sqlite3 shell, say)
    process = subprocess.Popen(
        dataplat("--project-dir", str(project), "run", "retail", "--partition", WINDOW),
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    waited = []
    try:
        assert process.stderr is not None
        for line in process.stderr:  # the lock is released once the run says it waits
            if "is locked by another process" in line:
                waited.append(line)
                holder.execute("rollback")
                break
        _, err = process.communicate(timeout=300)
    finally:
        holder.close()
        if process.poll() is None:
            process.kill()
    assert waited and str(tmp_path / "state" / "catalog.db") in waited[0], err[-3000:]
    assert "waiting up to 60s" in waited[0]
    assert process.returncode == 10, err[-3000:]


# -- a full disk under the warehouse ----------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (the tests run as root in their container) for the warehouse."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_disk_names_table_window_location_and_cause(
    project: Path, env: dict[str, str], small_disk: Path
) -> None:
    overlay(project, f"  io_manager: {{type: local_parquet, root: {small_disk}/warehouse}}\n")
    result = run_window(project, env, "--json")
    assert result.returncode == 30
    assert_no_traceback(result)
    errors = json.loads(result.stdout)["errors"]
    full = [e for e in errors if "No space left on device" in e]
    assert full, errors
    # the disk fills while writing the data or already while taking the window's lock (its
    # file names the holder): either way the table, the window and the place are named
    assert any(f" [{WINDOW}]: " in e and str(small_disk) in e for e in full), full
    assert any(f" [{WINDOW}]: writing " in e or "taking the lock" in e for e in full), full
    assert not any("Exceeded max_retries" in e for e in errors)
    assert not any("attempts)" in e for e in full), full  # a full disk is not retried


# -- bad landing files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "code", "fragment"),
    [
        (gzip.compress(b"order_id,customer_id\n1,2\n"), 30, "holds gzip-compressed data"),
        (b"order_id,customer_id\n\x00\x01\x02\n", 30, "holds binary data"),
        (None, 30, "holds no data rows (only its header)"),
    ],
    ids=["gzip", "binary", "header_only"],
)
def test_bad_landing_file_is_named(
    project: Path,
    env: dict[str, str],
    landing_copy: Path,
    content: bytes | None,
    code: int,
    fragment: str,
) -> None:
    path = landing_copy / "retail" / ORDERS
    if content is None:  # the header line alone
        content = path.read_bytes().splitlines(keepends=True)[0]
    path.write_bytes(content)
    result = run_window(project, env)
    assert result.returncode == code
    assert_no_traceback(result)
    assert lines_with(result.stdout + result.stderr, ORDERS, fragment), result.stderr[-3000:]


def test_latin1_byte_is_quarantined_with_file_and_line(
    project: Path, env: dict[str, str], landing_copy: Path
) -> None:
    path = landing_copy / "retail" / ORDERS
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].rstrip(b"\n") + b"\xe9\n"  # line 3 ends with a latin-1 e-acute
    path.write_bytes(b"".join(lines))
    result = run_window(project, env, "--json")
    assert_no_traceback(result)
    summary = json.loads(result.stdout)
    assert summary["metrics"]["raw/retail/orders"]["rows_quarantined"] == 1
    assert "raw/retail/orders: 1 row(s) quarantined" in summary["warnings"]


# -- the console: the platform's lines by default, Dagster's traces with --verbose ------------


def test_console_shows_platform_lines_and_traces_only_with_verbose(
    project: Path, env: dict[str, str], landing_copy: Path
) -> None:
    (landing_copy / "retail" / ORDERS).unlink()
    quiet = run_window(project, env)
    assert quiet.returncode == 30
    assert_no_traceback(quiet)
    assert lines_with(quiet.stderr, "INFO", "retail.raw.customers: read 1 file(s)")
    (error,) = lines_with(quiet.stderr, "error: raw/retail/orders [2024-01-03]: ")
    assert "no file matching" in error
    loud = run_window(project, env, "--verbose")
    assert loud.returncode == 30
    assert "Stack Trace" in loud.stderr and "STEP_FAILURE" in loud.stderr
    assert lines_with(loud.stderr, "error: raw/retail/orders [2024-01-03]: ", "no file matching")
