"""`dataplat emr submit` against the local AWS endpoint: uploads, the job run, how it ends.

What is uploaded, what EMR is asked, and how the job's end reaches the operator.

moto serves S3, CloudWatch Logs and EMR Serverless (its job runs end SUCCESS at once and run
nothing). A small proxy in front of it plays the cluster's part: at the first GetJobRun it
runs the entry point's `main` (with a stand-in for `dataplat run`) on the job's own arguments
and Pipes variables, and writes its stdout to the driver's CloudWatch stream, as EMR does; it
can also report the job FAILED or CANCELLED. Spark itself never runs here (see README).
"""

import contextlib
import http.client
import io
import json
import shlex
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from dataplat_dagster.cli import main as dataplat
from dataplat_dagster.remote import emr_driver
from dataplat_dagster.remote.emr_package import JobArtifacts
from dataplat_dagster.remote.emr_request import RunRequest, start_job_run_params
from dataplat_dagster.remote.emr_resource import EmrServerlessResource
from dataplat_dagster.resources.aws import AwsResource
from tests.aws.conftest import BUCKET
from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.integration

ROLE = "arn:aws:iam::123456789012:role/dataplat-emr-job"
DRIVER_ENV = "spark.emr-serverless.driverEnv."


class EmrEndpoint:
    """Forwards to moto; runs the simulated driver at a job's first GetJobRun; may end it badly."""

    def __init__(self, target: str, driver: Callable[[dict[str, Any]], str]) -> None:
        self.target = urlsplit(target)
        self.driver = driver
        self.end_state: tuple[str, str] | None = None  # (state, stateDetails) to report
        self.driven: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "EmrEndpoint":
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def forward(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        upstream = http.client.HTTPConnection(self.target.hostname, self.target.port, timeout=60)
        upstream.request(method, path, body=body, headers=headers)
        data = upstream.getresponse().read()
        upstream.close()
        return data

    def answer(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        parts = path.split("?")[0].strip("/").split("/")
        if parts[-1] == "dashboard":  # not in moto
            return json.dumps({"url": "https://emr-studio.example/dashboard"}).encode()
        data = self.forward(method, path, body, headers)
        if method != "GET" or parts[0] != "applications":
            return data
        answer = json.loads(data)
        if len(parts) == 2:  # GetApplication: AWS spells the type "Spark", moto echoes "SPARK"
            answer["application"]["type"] = "Spark"
        elif len(parts) == 4 and parts[2] == "jobruns":  # GetJobRun
            job_run = answer["jobRun"]
            if job_run["jobRunId"] not in self.driven:
                self.driven.add(job_run["jobRunId"])
                self.driver(job_run)
            if self.end_state:
                job_run["state"], job_run["stateDetails"] = self.end_state
        return json.dumps(answer).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("connection", "keep-alive", "expect")
                }
                data = endpoint.answer(self.command, self.path, body, headers)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = _serve

        return Handler


class SimulatedDriver:
    """What EMR would do with the job, `dataplat run` replaced by `outcome`.

    It runs the entry point's main on the job's arguments and environment and puts its stdout
    and stderr in CloudWatch.
    """

    def __init__(self, aws: AwsResource, outcome: tuple[int, dict[str, Any] | None]) -> None:
        self.aws = aws
        self.outcome = outcome
        self.calls: list[tuple[str, list[str]]] = []

    def run_dataplat(self, project_dir: str, args: list[str]) -> tuple[int, dict[str, Any] | None]:
        self.calls.append((project_dir, args))
        return self.outcome

    def __call__(self, job_run: dict[str, Any]) -> None:
        submit = job_run["jobDriver"]["sparkSubmit"]
        env = driver_env(submit["sparkSubmitParameters"])
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            emr_driver.main(submit["entryPointArguments"], env, run=self.run_dataplat)
        group = job_run["configurationOverrides"]["monitoringConfiguration"][
            "cloudWatchLoggingConfiguration"
        ]["logGroupName"]
        prefix = f"/applications/{job_run['applicationId']}/jobs/{job_run['jobRunId']}"
        for name, output in (("stdout", stdout), ("stderr", stderr)):
            self._log(group, f"{prefix}/SPARK_DRIVER/{name}", output.getvalue() or "(empty)")

    def _log(self, group: str, stream: str, text: str) -> None:
        logs = self.aws.client("logs")
        with contextlib.suppress(logs.exceptions.ResourceAlreadyExistsException):
            logs.create_log_group(logGroupName=group)
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName=group,
            logStreamName=stream,
            logEvents=[{"timestamp": now, "message": line} for line in text.splitlines() if line],
        )


def driver_env(spark_submit_parameters: str) -> dict[str, str]:
    """The driver's environment as the job's `--conf spark.emr-serverless.driverEnv.*` sets it."""
    words = shlex.split(spark_submit_parameters)
    pairs = [words[i + 1] for i, word in enumerate(words) if word == "--conf"]
    return {
        name.removeprefix(DRIVER_ENV): value
        for name, _, value in (pair.partition("=") for pair in pairs)
        if name.startswith(DRIVER_ENV)
    }


@pytest.fixture
def emr(aws_env: AwsResource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """An EMR Serverless application on moto, the proxy in front, and the submit settings."""
    application = aws_env.client("emr-serverless").create_application(
        name="dataplat", releaseLabel="emr-7.5.0", type="SPARK"
    )["applicationId"]
    driver = SimulatedDriver(aws_env, (0, {"status": "success", "errors": []}))
    with EmrEndpoint(aws_env.endpoint_url or "", driver) as endpoint:
        for name, value in {
            "DATAPLAT_AWS_ENDPOINT_URL": endpoint.url,
            "DATAPLAT_EMR_APPLICATION_ID": application,
            "DATAPLAT_EMR_EXECUTION_ROLE_ARN": ROLE,
            "DATAPLAT_EMR_ARTIFACTS_URI": f"s3://{BUCKET}/emr",
            "DAGSTER_HOME": str(tmp_path / "dagster"),  # the submitting run's instance
        }.items():
            monkeypatch.setenv(name, value)
        (tmp_path / "dagster").mkdir()
        yield {"application": application, "driver": driver, "endpoint": endpoint}


def submit(*args: str) -> Any:
    return CliRunner().invoke(
        dataplat,
        ["--project-dir", str(PROJECT_ROOT), "emr", "submit", *args, "--poll-interval", "0.2"],
    )


def the_job_run(aws: AwsResource, application: str) -> dict[str, Any]:
    client = aws.client("emr-serverless")
    (listed,) = client.list_job_runs(applicationId=application)["jobRuns"]
    return client.get_job_run(applicationId=application, jobRunId=listed["id"])["jobRun"]


def s3_object(aws: AwsResource, uri: str) -> bytes:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()


def test_submit_ships_the_project_and_runs_dataplat_on_the_driver(
    aws_env: AwsResource, emr: dict
) -> None:
    result = submit("retail", "--partition", "2024-01-03", "--conf", "spark.executor.memory=4g")

    assert result.exit_code == 0, result.output
    job_run = the_job_run(aws_env, emr["application"])
    submit_ = job_run["jobDriver"]["sparkSubmit"]
    assert job_run["executionRole"] == ROLE
    assert submit_["entryPointArguments"] == [
        "--project", "project", "run", "retail", "--partition", "2024-01-03", "--json",
    ]  # fmt: skip
    # the entry point uploaded is the driver module itself, named by its content
    assert submit_["entryPoint"].startswith(f"s3://{BUCKET}/emr/")
    assert s3_object(aws_env, submit_["entryPoint"]) == Path(emr_driver.__file__).read_bytes()
    conf = dict(
        pair.partition("=")[::2]
        for pair in shlex.split(submit_["sparkSubmitParameters"])
        if pair != "--conf"
    )
    archive_uri, _, folder = conf["spark.archives"].partition("#")
    assert folder == "project"
    names = zipfile.ZipFile(io.BytesIO(s3_object(aws_env, archive_uri))).namelist()
    assert {"assets/retail/dataflow.yaml", "resources/aws.yaml", "definitions.py"} <= set(names)
    assert not [name for name in names if name.startswith(("tests/", "dataplat_dagster/"))]
    assert conf["spark.executor.memory"] == "4g"
    env = driver_env(submit_["sparkSubmitParameters"])
    assert env["DATAPLAT_ENV"] == "aws"
    assert env["DATAPLAT_S3_BUCKET"] == BUCKET
    # secrets, the local endpoint and the submission's own settings stay on this machine
    assert not {"DATAPLAT_REPORTING_DB_PASSWORD", "DATAPLAT_AWS_ENDPOINT_URL"} & set(env)
    assert not [name for name in env if name.startswith("DATAPLAT_EMR_")]
    assert "DAGSTER_PIPES_CONTEXT" in env
    logging_ = job_run["configurationOverrides"]["monitoringConfiguration"]
    assert logging_["cloudWatchLoggingConfiguration"]["enabled"] is True
    # the driver got the job's arguments and its result came back through Pipes
    assert emr["driver"].calls == [
        ("project", ["run", "retail", "--partition", "2024-01-03", "--json"])
    ]
    assert "status: success (exit code 0" in result.output


def test_a_remote_run_that_fails_exits_with_its_code_and_errors(
    aws_env: AwsResource, emr: dict
) -> None:
    emr["driver"].outcome = (
        30,
        {"status": "failed", "errors": ["staging/retail/orders 2024-01-05: ERROR check failed"]},
    )

    result = submit("retail", "--from", "2024-01-01", "--to", "2024-01-07", "--json")

    assert result.exit_code == 30, result.output
    assert emr["driver"].calls[0][1][:6] == [
        "run", "retail", "--from", "2024-01-01", "--to", "2024-01-07",
    ]  # fmt: skip
    printed = json.loads(result.stdout[result.stdout.index("{") :])
    assert printed["status"] == "failed"
    assert "staging/retail/orders 2024-01-05: ERROR check failed" in printed["errors"][0]


@pytest.mark.parametrize(
    ("state", "details", "exit_code"),
    [
        ("FAILED", "Job failed, please check complete logs. ExitCode: 137", 30),
        ("CANCELLED", "Job run was cancelled by user", 50),
    ],
)
def test_a_job_run_that_ends_badly_names_the_run_state_reason_and_logs(
    aws_env: AwsResource, emr: dict, state: str, details: str, exit_code: int
) -> None:
    emr["endpoint"].end_state = (state, details)

    result = submit("retail", "--partition", "2024-01-03")

    assert result.exit_code == exit_code, result.output
    job_run_id = the_job_run(aws_env, emr["application"])["jobRunId"]
    assert f"EMR Serverless job run {job_run_id} (retail 2024-01-03) ended {state}" in result.stderr
    assert details in result.stderr
    assert f"/applications/{emr['application']}/jobs/{job_run_id}/SPARK_DRIVER/stderr" in (
        result.stderr
    )


def test_the_entry_point_runs_dataplat_and_reads_its_result_object(local_env: Path) -> None:
    code, summary = emr_driver.run_dataplat(str(PROJECT_ROOT), ["validate", "--json"])

    assert code in (0, 10)
    assert summary is not None and summary["status"].startswith("valid")
    assert summary["dataflows"] == ["retail"]


def test_the_entry_point_refuses_arguments_without_a_project() -> None:
    assert emr_driver.main(["run", "retail"], {}) == 2


def test_a_python_archive_becomes_the_python_of_driver_and_executors() -> None:
    emr_ = EmrServerlessResource(
        aws=AwsResource(),
        application_id="app",
        execution_role_arn=ROLE,
        artifacts_uri="s3://b/emr",
        python_archive_uri="s3://b/emr/venv.tar.gz",
    )
    artifacts = JobArtifacts("s3://b/emr/1/entry.py", "s3://b/emr/2/project.zip")

    params = start_job_run_params(emr_, artifacts, RunRequest("retail", every=True), {})

    submit_ = params["jobDriver"]["sparkSubmit"]
    conf = submit_["sparkSubmitParameters"]
    assert (
        "--conf spark.archives=s3://b/emr/2/project.zip#project,s3://b/emr/venv.tar.gz#environment"
        in conf
    )
    for name in (
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON",
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON",
        "spark.executorEnv.PYSPARK_PYTHON",
    ):
        assert f"--conf {name}=./environment/bin/python" in conf
    assert submit_["entryPointArguments"][-3:] == ["retail", "--all", "--json"]
    assert params["name"] == "dataplat-retail-all"


def test_a_setting_with_a_space_is_refused_before_submitting() -> None:
    emr_ = EmrServerlessResource(
        aws=AwsResource(),
        application_id="app",
        execution_role_arn=ROLE,
        artifacts_uri="s3://b/emr",
        spark_conf={"spark.driver.extraJavaOptions": "-Da=1 -Db=2"},
    )
    artifacts = JobArtifacts("s3://b/emr/1/entry.py", "s3://b/emr/2/project.zip")

    with pytest.raises(ValueError, match=r"spark.driver.extraJavaOptions=.* without spaces"):
        start_job_run_params(emr_, artifacts, RunRequest("retail", partition="2024-01-03"), {})
