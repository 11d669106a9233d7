"""The aws profile's storage and catalogue work under exactly the README's IAM policy.

moto enforces IAM once `/moto-api/reset-auth` is posted: an IAM user gets the warehouse and
Glue statements of the README's policy (databases pre-created, so no glue:CreateDatabase),
then writes, re-writes, withholds and reads windows with its own keys. A call outside the
policy is refused, which proves the enforcement is on.
"""

import json
import urllib.request
from collections.abc import Iterator

import pyarrow as pa
import pytest
from botocore.exceptions import ClientError

from dataplat_dagster.engines.pandas_engine import PandasEngine
from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.file_store import S3FileStore
from dataplat_dagster.resources.glue_catalog import GlueCatalog
from dataplat_dagster.resources.io_managers import S3ParquetIOManager

pytestmark = pytest.mark.integration
BUCKET = "least-privilege"
TABLE = ["staging", "shop", "orders"]
# the README's statements for the warehouse and Glue (see "The aws profile")
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": ["s3:ListBucket"],
            "Resource": [f"arn:aws:s3:::{BUCKET}"],
        },
        {
            "Effect": "Allow",
            "Action": [
                "s3:GetObject",
                "s3:PutObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            "Resource": [f"arn:aws:s3:::{BUCKET}/warehouse/*"],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:GetObject"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/landing/*"],
        },
        {
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [f"arn:aws:s3:::{BUCKET}/exports/*"],
        },
        {
            "Effect": "Allow",
            "Action": [
                "glue:GetDatabase",
                "glue:GetDatabases",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:GetPartitions",
                "glue:BatchCreatePartition",
                "glue:BatchUpdatePartition",
                "glue:BatchDeletePartition",
            ],
            "Resource": ["*"],
        },
    ],
}


def set_auth(endpoint: str, count: str) -> None:
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        data=count.encode(),
        method="POST",
        headers={"Content-Type": "text/plain"},  # else the server parses it as a form
    )
    urllib.request.urlopen(request)


@pytest.fixture
def restricted(aws_credentials: str) -> Iterator[AwsResource]:
    admin = AwsResource(region_name="eu-west-1", endpoint_url=aws_credentials)
    admin.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    admin.client("glue").create_database(DatabaseInput={"Name": "dataplat_staging"})
    admin.client("s3").put_object(Bucket=BUCKET, Key="landing/shop/orders_1.csv", Body=b"id\n1\n")
    iam = admin.client("iam")
    iam.create_user(UserName="dataplat")
    iam.put_user_policy(
        UserName="dataplat", PolicyName="dataplat", PolicyDocument=json.dumps(POLICY)
    )
    key = iam.create_access_key(UserName="dataplat")["AccessKey"]
    set_auth(aws_credentials, "0")  # from now on every request is checked against IAM
    try:
        yield AwsResource(
            region_name="eu-west-1",
            endpoint_url=aws_credentials,
            max_attempts=2,
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
        )
    finally:
        set_auth(aws_credentials, "inf")


def test_writes_rewrites_withholds_and_reads_under_the_readme_policy(
    restricted: AwsResource,
) -> None:
    io = S3ParquetIOManager(
        bucket=BUCKET,
        prefix="warehouse",
        aws=restricted,
        engine=PandasEngine(),
        catalog=GlueCatalog(aws=restricted),
    )
    for run_id, failed in (("run-one", {}), ("run-two", {}), ("run-three", {"d2": ["rule"]})):
        io.write_windows(
            TABLE,
            [("d1", pa.table({"id": [1]})), ("d2", pa.table({"id": [2]}))],
            run_id=run_id,
            failed_checks=failed,
            properties={},
        )
    storage = io.storage()
    assert storage.manifest(TABLE, "never") is None  # ListBucket: a missing key is a 404
    assert storage.read(TABLE, ["d1"])[0]["id"].to_pylist() == [1]
    assert io.catalog.list_partitions(key_path=TABLE) == ["d1"]
    assert [t.name for t in io.catalog.list_tables()] == ["shop__orders"]

    with pytest.raises(ClientError, match=r"AccessDenied|not authorized"):
        restricted.client("glue").create_database(DatabaseInput={"Name": "dataplat_other"})


def test_landing_files_and_exports_under_the_readme_policy(restricted: AwsResource) -> None:
    landing = S3FileStore(bucket=BUCKET, prefix="landing", aws=restricted)
    (listed,) = landing.list_files("shop/")
    assert listed.path == "shop/orders_1.csv"
    assert landing.open_input(listed.path).read() == b"id\n1\n"
    exports = S3FileStore(bucket=BUCKET, prefix="exports", aws=restricted)
    uri = exports.write_bytes("shop/orders.csv", b"id\n1\n")
    assert uri == f"s3://{BUCKET}/exports/shop/orders.csv"
