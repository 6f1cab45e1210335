"""The `import_records` dynamic partitions: one partition per ImportRecord.

A key is either the record's id (records registered by the CLI, the sensors, the
schedule, the launchpad job or the HTTP API) or a source path or URL typed into the
UI's "Add partition" dialog (or passed to a backfill): the record of such a key is
registered by its first run, under an id derived from the key (`source_record_id`).
"""

import uuid

from dagster import DagsterInstance, DynamicPartitionsDefinition

from import_pipeline.domain.errors import InvalidPartitionKeyError
from import_pipeline.domain.models import derived_id

IMPORT_RECORDS_PARTITION = "import_records"

import_records_partitions = DynamicPartitionsDefinition(name=IMPORT_RECORDS_PARTITION)

# Ids of records registered from a source-named partition key.
_SOURCE_KEY_NAMESPACE = uuid.UUID("4b7e2f0a-6c1d-4e59-8f3a-9d2c5b1e7a40")
_SOURCE_PREFIXES = ("/", "file://", "http://", "https://")


def is_source_key(key: str) -> bool:
    """Whether a partition key names a source (an absolute path or a file/http(s) URL)."""
    return key.startswith(_SOURCE_PREFIXES)


def source_record_id(key: str) -> uuid.UUID:
    """The id of the record a source-named partition key stands for (the same every time)."""
    return derived_id(_SOURCE_KEY_NAMESPACE, key)


def record_id_from_partition_key(key: str | None) -> uuid.UUID:
    """The record id a partition key names; raise `InvalidPartitionKeyError` if it names none.

    Dagster accepts any string as a dynamic partition key (even an empty one or one with
    a comma, which breaks backfills), so the key is checked here before anything uses it.
    """
    if not key:
        raise InvalidPartitionKeyError(
            "the run has no partition: an import run needs the import record id (or a "
            "source path or URL) as its partition key (tag dagster/partition)"
        )
    if is_source_key(key):
        if "," in key:
            raise InvalidPartitionKeyError(
                f"partition key {key!r} has a comma, which Dagster's backfills cannot carry: "
                "rename the source"
            )
        return source_record_id(key)
    try:
        return uuid.UUID(key)
    except ValueError:
        raise InvalidPartitionKeyError(
            f"partition key {key!r} is neither an import record id (a UUID) nor a source "
            "(an absolute path, file://, http:// or https:// URL)"
        ) from None


def add_partition(record_id: uuid.UUID, instance: DagsterInstance) -> str:
    """Add the record's partition to the instance unless it is there; return its key."""
    key = str(record_id)
    if not instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key):
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
    return key
