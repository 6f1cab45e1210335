"""Launching the import job for one record from Python (the CLI), on a given instance."""

import uuid
from dataclasses import dataclass

from dagster import (
    DagsterInstance,
    JobDefinition,
    JobExecutionResult,
    execute_job,
    reconstructable,
)

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


def add_partition(record_id: uuid.UUID, instance: DagsterInstance) -> str:
    """Add the record's partition to the instance."""
    key = str(record_id)
    if not instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key):
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
    return key


@dataclass(frozen=True)
class RunOutcome:
    """How a launched run ended: success, its id, and the first step failure's reason."""

    success: bool
    run_id: str
    failure: str | None


def _first_failure(result: JobExecutionResult) -> str | None:
    """The first line of the first step failure's description or error, if any."""
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        text = data.user_failure_data.description if data.user_failure_data else None
        text = text or (data.error.message if data.error else None) or event.message or ""
        return (text.strip().splitlines() or ["(no message)"])[0]
    return None if result.success else "the run did not finish (see its event log)"


def run_import_job(
    record_id: uuid.UUID,
    instance: DagsterInstance,
    *,
    source_name: str,
    database_url: str,
    batch_size: int,
    chunk_size: int,
    concurrency: int,
    log_level: str = "WARNING",
) -> RunOutcome:
    """Add the record's partition and run the import job for it.

    Up to `concurrency` batches run at once in their own processes; with 1 the whole run
    stays in this process. The run is recorded in `instance`, so it shows in the UI. The
    database URL travels in the run config (the `database` resource), so that every
    step process uses it whatever its environment.
    """
    key = add_partition(record_id, instance)
    config = run_config(batch_size, chunk_size, log_level, concurrency)
    config["resources"] = {"database": {"config": {"database_url": database_url}}}
    result = execute_job(
        reconstructable(import_job_from_environment),
        instance=instance,
        run_config=config,
        tags={"dagster/partition": key, RECORD_ID_TAG: key, SOURCE_TAG: source_name},
        raise_on_error=False,
    )
    with result:
        return RunOutcome(result.success, result.run_id, _first_failure(result))
