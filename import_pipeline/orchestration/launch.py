"""Launching the import job for one record from Python (the CLI), on DAGSTER_HOME's instance."""

import os
import uuid

from dagster import DagsterInstance, JobDefinition, execute_job, reconstructable

from import_pipeline.definitions import build_definitions
from import_pipeline.orchestration.jobs import IMPORT_JOB_NAME
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION
from import_pipeline.orchestration.run_config import RECORD_ID_TAG, SOURCE_TAG, run_config


def import_job_from_environment() -> JobDefinition:
    """The import job with resources configured from the environment.

    Module-level so that `reconstructable` can rebuild it in each step process of the
    multiprocess executor.
    """
    return build_definitions().resolve_job_def(IMPORT_JOB_NAME)


def add_partition(record_id: uuid.UUID, instance: DagsterInstance | None = None) -> str:
    """Add the record's partition to the instance (of DAGSTER_HOME by default)."""
    instance = instance or DagsterInstance.get()
    key = str(record_id)
    if not instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key):
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
    return key


def run_import_job(
    record_id: uuid.UUID,
    *,
    source_name: str,
    database_url: str,
    batch_size: int,
    chunk_size: int,
    concurrency: int,
    log_level: str = "WARNING",
) -> bool:
    """Add the record's partition and run the import job for it.

    Up to `concurrency` batches run at once in their own processes; with 1 the whole run
    stays in this process. The run is recorded in the instance of DAGSTER_HOME, so it
    shows in the UI. Returns whether the run succeeded.
    """
    instance = DagsterInstance.get()
    key = add_partition(record_id, instance)
    os.environ["IMPORT_PIPELINE_DATABASE_URL"] = database_url  # read by the step processes
    result = execute_job(
        reconstructable(import_job_from_environment),
        instance=instance,
        run_config=run_config(batch_size, chunk_size, log_level, concurrency),
        tags={"dagster/partition": key, RECORD_ID_TAG: key, SOURCE_TAG: source_name},
        raise_on_error=False,
    )
    return result.success
