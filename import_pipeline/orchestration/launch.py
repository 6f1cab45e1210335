"""Launching the import job for one record from Python (the CLI), on DAGSTER_HOME's instance."""

import os
import uuid

from dagster import DagsterInstance, JobDefinition, execute_job, reconstructable

from import_pipeline.definitions import build_definitions
from import_pipeline.orchestration.jobs import IMPORT_JOB_NAME
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION

RECORD_ID_TAG = "import_pipeline/record_id"
SOURCE_TAG = "import_pipeline/source"


def import_job_from_environment() -> JobDefinition:
    """The import job with resources configured from the environment.

    Module-level so that `reconstructable` can rebuild it in each step process of the
    multiprocess executor.
    """
    return build_definitions().resolve_job_def(IMPORT_JOB_NAME)


def executor_config(concurrency: int) -> dict[str, object]:
    """Run config of the executor: in-process for 1, else up to `concurrency` step processes.

    Step processes start from a forkserver that has preloaded the project, which saves
    most of the ~2.5 s of interpreter and Dagster start-up that a spawned step pays.
    """
    if concurrency <= 1:
        return {"in_process": {}}
    return {
        "multiprocess": {
            "max_concurrent": concurrency,
            "start_method": {"forkserver": {"preload_modules": ["import_pipeline.definitions"]}},
        }
    }


def run_config(
    batch_size: int,
    chunk_size: int,
    log_level: str = "INFO",
    concurrency: int | None = None,
) -> dict[str, object]:
    """The import job's run config: sizes, console log level, and the executor.

    `concurrency=None` leaves the executor out (for `execute_in_process`).
    """
    execution = (
        {"execution": {"config": executor_config(concurrency)}} if concurrency is not None else {}
    )
    return {
        **execution,
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
    concurrency: int,
    log_level: str = "WARNING",
) -> bool:
    """Add the record's partition and run the import job for it.

    Up to `concurrency` batches run at once in their own processes; with 1 the whole run
    stays in this process. The run is recorded in the instance of DAGSTER_HOME, so it
    shows in the UI. Returns whether the run succeeded.
    """
    instance = DagsterInstance.get()
    key = str(record_id)
    if not instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key):
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
    os.environ["IMPORT_PIPELINE_DATABASE_URL"] = database_url  # read by the step processes
    result = execute_job(
        reconstructable(import_job_from_environment),
        instance=instance,
        run_config=run_config(batch_size, chunk_size, log_level, concurrency),
        tags={"dagster/partition": key, RECORD_ID_TAG: key, SOURCE_TAG: source_name},
        raise_on_error=False,
    )
    return result.success
