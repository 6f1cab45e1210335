"""The `import_records` dynamic partitions: one partition per ImportRecord (key = record id)."""

import uuid

from dagster import DynamicPartitionsDefinition

from import_pipeline.domain.errors import InvalidPartitionKeyError

IMPORT_RECORDS_PARTITION = "import_records"

import_records_partitions = DynamicPartitionsDefinition(name=IMPORT_RECORDS_PARTITION)


def record_id_from_partition_key(key: str | None) -> uuid.UUID:
    """The record id a partition key names; raise `InvalidPartitionKeyError` if it is not one.

    Dagster accepts any string as a dynamic partition key (even an empty one), so the
    key is checked here before anything uses it.
    """
    if not key:
        raise InvalidPartitionKeyError(
            "the run has no partition: an import run needs the import record id as its "
            "partition key (tag dagster/partition)"
        )
    try:
        return uuid.UUID(key)
    except ValueError:
        raise InvalidPartitionKeyError(
            f"partition key {key!r} is not an import record id (a UUID)"
        ) from None
