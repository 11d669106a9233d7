"""The catalogue in the AWS Glue Data Catalog (boto3: dagster-aws has no Glue resource).

One Glue database per layer (`<prefix>_<layer>`), tables `<dataflow>__<table>` as external
Parquet tables partitioned by `dt`, each window a Glue partition pointing at its folder.
Every call is idempotent: re-registering updates, it never duplicates.
"""

from typing import Any

import dagster as dg
import pyarrow as pa
from botocore.exceptions import ClientError

from dataplat_dagster.resources.aws import AwsResource
from dataplat_dagster.resources.catalog import CatalogResource, CatalogTable, hive_columns

PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    },
}
BATCH = 100  # batch_create_partition / batch_update_partition take at most 100 entries


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


class GlueCatalog(CatalogResource):
    """Tables and partitions in the Glue Data Catalog."""

    aws: dg.ResourceDependency[AwsResource]

    def _glue(self) -> Any:
        return self.aws.client("glue")

    def _ensure_database(self, database: str) -> None:
        try:
            self._glue().create_database(
                DatabaseInput={"Name": database, "Description": "dataplat tables of one layer"}
            )
        except ClientError as error:
            if _code(error) != "AlreadyExistsException":
                raise

    def register_table(
        self,
        *,
        key_path: list[str],
        schema: pa.Schema,
        location: str,
        partition_key: str | None,
        description: str,
    ) -> None:
        database, name = self.names(key_path)
        self._ensure_database(database)
        table_input = {
            "Name": name,
            "Description": description,
            "TableType": "EXTERNAL_TABLE",
            "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE"},
            "PartitionKeys": [{"Name": partition_key, "Type": "string"}] if partition_key else [],
            "StorageDescriptor": {
                "Columns": [
                    {"Name": n, "Type": t}
                    for n, t in hive_columns(
                        schema, exclude={partition_key} if partition_key else set()
                    )
                ],
                "Location": location.rstrip("/") + "/",
                **PARQUET_FORMAT,
            },
        }
        try:
            self._glue().create_table(DatabaseName=database, TableInput=table_input)
        except ClientError as error:
            if _code(error) != "AlreadyExistsException":
                raise
            self._glue().update_table(DatabaseName=database, TableInput=table_input)

    def register_partitions(
        self, *, key_path: list[str], partitions: list[tuple[str, str]]
    ) -> None:
        database, name = self.names(key_path)
        table = self._glue().get_table(DatabaseName=database, Name=name)["Table"]
        descriptor = table["StorageDescriptor"]

        def partition_input(value: str, location: str) -> dict[str, Any]:
            return {
                "Values": [value],
                "StorageDescriptor": {**descriptor, "Location": location.rstrip("/") + "/"},
            }

        for start in range(0, len(partitions), BATCH):
            chunk = partitions[start : start + BATCH]
            response = self._glue().batch_create_partition(
                DatabaseName=database,
                TableName=name,
                PartitionInputList=[partition_input(v, loc) for v, loc in chunk],
            )
            existing = {
                tuple(e["PartitionValues"])
                for e in response.get("Errors", [])
                if e["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"
            }
            others = [
                e
                for e in response.get("Errors", [])
                if e["ErrorDetail"]["ErrorCode"] != "AlreadyExistsException"
            ]
            if others:
                detail = others[0]["ErrorDetail"]
                raise RuntimeError(
                    f"Glue could not register partitions of {database}.{name}: {detail['ErrorCode']}: {detail.get('ErrorMessage')}"
                )
            updates = [(v, loc) for v, loc in chunk if (v,) in existing]
            if updates:
                self._glue().batch_update_partition(
                    DatabaseName=database,
                    TableName=name,
                    Entries=[
                        {"PartitionValueList": [v], "PartitionInput": partition_input(v, loc)}
                        for v, loc in updates
                    ],
                )

    def get_table(self, *, key_path: list[str]) -> CatalogTable | None:
        database, name = self.names(key_path)
        try:
            table = self._glue().get_table(DatabaseName=database, Name=name)["Table"]
        except ClientError as error:
            if _code(error) == "EntityNotFoundException":
                return None
            raise
        return _to_table(database, table)

    def list_partitions(self, *, key_path: list[str]) -> list[str]:
        database, name = self.names(key_path)
        paginator = self._glue().get_paginator("get_partitions")
        values = [
            p["Values"][0]
            for page in paginator.paginate(DatabaseName=database, TableName=name)
            for p in page["Partitions"]
        ]
        return sorted(values)

    def list_tables(self) -> list[CatalogTable]:
        glue = self._glue()
        databases = [
            d["Name"]
            for page in glue.get_paginator("get_databases").paginate()
            for d in page["DatabaseList"]
        ]
        tables = []
        for database in (d for d in databases if d.startswith(f"{self.database_prefix}_")):
            for page in glue.get_paginator("get_tables").paginate(DatabaseName=database):
                tables += [_to_table(database, table) for table in page["TableList"]]
        return tables


def _to_table(database: str, table: dict[str, Any]) -> CatalogTable:
    descriptor = table.get("StorageDescriptor", {})
    return CatalogTable(
        database,
        table["Name"],
        [(c["Name"], c["Type"]) for c in descriptor.get("Columns", [])],
        descriptor.get("Location", ""),
        [k["Name"] for k in table.get("PartitionKeys", [])],
        table.get("Description", ""),
    )
