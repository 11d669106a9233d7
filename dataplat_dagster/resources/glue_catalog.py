"""The catalogue in the AWS Glue Data Catalog (boto3: dagster-aws has no Glue resource).

One Glue database per layer (`<prefix>_<layer>`), tables `<dataflow>__<table>` as external
Parquet tables partitioned by `dt`, each window a Glue partition pointing at its published
version folder (`dt=<window>/v=<write id>/`), moved on each publish; an unpartitioned table's
location is its published version folder. Gate-failed windows are not registered.
Every call is idempotent: re-registering updates, it never duplicates.
"""

from typing import Any

import dagster as dg
import pyarrow as pa
from botocore.exceptions import ClientError
from pydantic import PrivateAttr

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
DELETE_BATCH = 25  # batch_delete_partition takes at most 25


def _code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def _differs(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Would `UpdateTable` change anything readers see (columns, location, keys, text)?"""
    have, want = current.get("StorageDescriptor", {}), wanted["StorageDescriptor"]
    return (
        [(c["Name"], c["Type"]) for c in have.get("Columns", [])]
        != [(c["Name"], c["Type"]) for c in want["Columns"]]
        or have.get("Location", "") != want["Location"]
        or [(k["Name"], k["Type"]) for k in current.get("PartitionKeys", [])]
        != [(k["Name"], k["Type"]) for k in wanted["PartitionKeys"]]
        or current.get("Description", "") != wanted["Description"]
    )


def _batch_errors(
    response: dict[str, Any],
    database: str,
    name: str,
    action: str,
    ignore: str = "AlreadyExistsException",
) -> set[str]:
    """Values whose error is `ignore`d; any other error fails naming the table."""
    errors = response.get("Errors", [])
    others = [e for e in errors if e["ErrorDetail"]["ErrorCode"] != ignore]
    if others:
        detail, values = others[0]["ErrorDetail"], others[0].get("PartitionValues", [])
        raise RuntimeError(
            f"Glue could not {action} partition {values} of {database}.{name}: "
            f"{detail['ErrorCode']}: {detail.get('ErrorMessage')}"
        )
    return {e["PartitionValues"][0] for e in errors if e.get("PartitionValues")}


class GlueCatalog(CatalogResource):
    """Tables and partitions in the Glue Data Catalog, with the fewest writes possible.

    Least privilege and no churn: `CreateDatabase` only when `GetDatabase` says the database
    is missing (so pre-created databases need no create permission), `UpdateTable` only when
    columns, location, partition keys or description changed (each update is a new table
    version), partitions created or updated in batches only when their location changed.
    """

    aws: dg.ResourceDependency[AwsResource]
    _known_databases: set[str] = PrivateAttr(default_factory=set)
    _tables: dict[tuple[str, str], dict[str, Any]] = PrivateAttr(default_factory=dict)

    def _glue(self) -> Any:
        return self.aws.client("glue")

    def _ensure_database(self, database: str) -> None:
        if database in self._known_databases:
            return
        try:
            self._glue().get_database(Name=database)
        except ClientError as error:
            if _code(error) != "EntityNotFoundException":
                raise
            try:
                self._glue().create_database(
                    DatabaseInput={"Name": database, "Description": "dataplat tables of one layer"}
                )
            except ClientError as race:  # another writer created it meanwhile
                if _code(race) != "AlreadyExistsException":
                    raise
        self._known_databases.add(database)

    def _current_table(self, database: str, name: str) -> dict[str, Any] | None:
        try:
            return self._glue().get_table(DatabaseName=database, Name=name)["Table"]
        except ClientError as error:
            if _code(error) == "EntityNotFoundException":
                return None
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
        current = self._current_table(database, name)
        if current is None:
            try:
                self._glue().create_table(DatabaseName=database, TableInput=table_input)
            except ClientError as error:  # another writer created it meanwhile
                if _code(error) != "AlreadyExistsException":
                    raise
                current = self._current_table(database, name)
        if current is not None and _differs(current, table_input):
            self._glue().update_table(DatabaseName=database, TableInput=table_input)
        self._tables[(database, name)] = table_input

    def register_partitions(
        self, *, key_path: list[str], partitions: list[tuple[str, str]]
    ) -> None:
        database, name = self.names(key_path)
        table = self._tables.get((database, name)) or self._current_table(database, name)
        if table is None:
            raise RuntimeError(f"Glue table {database}.{name} is not registered")
        descriptor = table["StorageDescriptor"]
        current = self._partition_locations(database, name)

        def partition_input(value: str, location: str) -> dict[str, Any]:
            return {
                "Values": [value],
                "StorageDescriptor": {**descriptor, "Location": location.rstrip("/") + "/"},
            }

        wanted = {value: location.rstrip("/") + "/" for value, location in partitions}
        new = [(v, loc) for v, loc in wanted.items() if v not in current]
        moved = [(v, loc) for v, loc in wanted.items() if v in current and current[v] != loc]
        for start in range(0, len(new), BATCH):
            chunk = new[start : start + BATCH]
            response = self._glue().batch_create_partition(
                DatabaseName=database,
                TableName=name,
                PartitionInputList=[partition_input(v, loc) for v, loc in chunk],
            )
            created_meanwhile = _batch_errors(response, database, name, "register")
            moved += [(v, loc) for v, loc in chunk if v in created_meanwhile]
        for start in range(0, len(moved), BATCH):
            chunk = moved[start : start + BATCH]
            response = self._glue().batch_update_partition(
                DatabaseName=database,
                TableName=name,
                Entries=[
                    {"PartitionValueList": [v], "PartitionInput": partition_input(v, loc)}
                    for v, loc in chunk
                ],
            )
            _batch_errors(response, database, name, "update")

    def withhold_partitions(
        self, *, key_path: list[str], partitions: list[tuple[str, str]]
    ) -> None:
        """Withdraw gate-failed windows: Athena and Spark must not read them."""
        database, name = self.names(key_path)
        current = self._partition_locations(database, name)
        registered = [value for value, _ in partitions if value in current]
        for start in range(0, len(registered), DELETE_BATCH):
            chunk = registered[start : start + DELETE_BATCH]
            response = self._glue().batch_delete_partition(
                DatabaseName=database,
                TableName=name,
                PartitionsToDelete=[{"Values": [v]} for v in chunk],
            )
            _batch_errors(response, database, name, "withdraw", ignore="EntityNotFoundException")

    def _partition_locations(self, database: str, name: str) -> dict[str, str]:
        paginator = self._glue().get_paginator("get_partitions")
        return {
            p["Values"][0]: p.get("StorageDescriptor", {}).get("Location", "")
            for page in paginator.paginate(DatabaseName=database, TableName=name)
            for p in page["Partitions"]
        }

    def partition_locations(self, *, key_path: list[str]) -> dict[str, str]:
        return self._partition_locations(*self.names(key_path))

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
