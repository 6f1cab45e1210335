"""Launching the import job for one record from Python (the CLI), on DAGSTER_HOME's instance."""

import uuid

from dagster import DagsterInstance

from import_pipeline.definitions import build_definitions
from import_pipeline.orchestration.jobs import IMPORT_JOB_NAME
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION

RECORD_ID_TAG = "import_pipeline/record_id"
SOURCE_TAG = "import_pipeline/source"


def run_config(batch_size: int, chunk_size: int, log_level: str = "INFO") -> dict[str, object]:
    """The import job's run config for these sizes, logging to the console at `log_level`."""
    return {
        "loggers": {"console": {"config": {"log_level": log_level}}},
        "ops": {
            "plan_import_batches": {"config": {"batch_size": batch_size}},
            "process_import_batch": {"config": {"chunk_size": chunk_size}},
        },
    }


def run_import_job(
    record_id: uuid.UUID,
    *,
    source_name: str,
    database_url: str,
    batch_size: int,
    chunk_size: int,
    log_level: str = "WARNING",
) -> bool:
    """Add the record's partition and run the import job for it in this process.

    The run is recorded in the instance of DAGSTER_HOME, so it shows in the UI. Returns
    whether the run succeeded.
    """
    instance = DagsterInstance.get()
    key = str(record_id)
    if not instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key):
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
    job = build_definitions(database_url).resolve_job_def(IMPORT_JOB_NAME)
    result = job.execute_in_process(
        run_config=run_config(batch_size, chunk_size, log_level),
        instance=instance,
        partition_key=key,
        tags={RECORD_ID_TAG: key, SOURCE_TAG: source_name},
        raise_on_error=False,
    )
    return result.success
