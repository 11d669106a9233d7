"""Fixtures of the aws profile tests: the demo on a moto server and PostgreSQL."""

from pathlib import Path

import pytest

from dataplat_dagster.resources.aws import AwsResource
from tests.conftest import DEMO_LANDING

BUCKET = "dataplat-demo"


@pytest.fixture
def aws_env(
    aws_credentials: str, postgres_database: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> AwsResource:
    for name, value in {
        "DATAPLAT_ENV": "aws",
        "DATAPLAT_S3_BUCKET": BUCKET,
        "DATAPLAT_HOME": str(tmp_path / "state"),
        "DATAPLAT_REPORTING_DB_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{postgres_database}",
        "DATAPLAT_REPORTING_DB_PASSWORD": "",
        "DATAPLAT_MAIL_FROM": "dataplat@example.com",
        "DATAPLAT_MAIL_TO": "data-platform@example.com",
        "DATAPLAT_UI_URL": "http://dagster.example.com",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    aws = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in DEMO_LANDING.rglob("*.*"):
        s3.put_object(
            Bucket=BUCKET,
            Key=f"landing/{path.relative_to(DEMO_LANDING).as_posix()}",
            Body=path.read_bytes(),
        )
    aws.client("ses").verify_email_identity(EmailAddress="dataplat@example.com")
    return aws
