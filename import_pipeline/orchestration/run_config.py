"""Run configuration of the import job, in one place: sizes, executor, logging, tags."""

from collections.abc import Mapping
from typing import Any

from dagster import PartitionedConfig, RunRequest

from import_pipeline.domain.models import ImportRecord
from import_pipeline.orchestration.partitions import import_records_partitions
from import_pipeline.settings import get_settings

RECORD_ID_TAG = "import_pipeline/record_id"
SOURCE_TAG = "import_pipeline/source"


def executor_config(concurrency: int) -> dict[str, object]:
    """Run config of the executor: in-process for 1, else up to `concurrency` step processes.

    Step processes start from a forkserver that has preloaded the project, which saves
    most of the interpreter and Dagster start-up that a spawned step pays.
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
) -> dict[str, Any]:
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


def config_for_partition(partition_key: str) -> Mapping[str, Any]:
    """Default run config of a partition's run (UI launches, backfills, sensors, schedule).

    Read from the settings when the run is created, never at import time.
    """
    settings = get_settings()
    return run_config(settings.batch_size, settings.chunk_size, "INFO", settings.concurrency)


def tags_for_partition(partition_key: str) -> Mapping[str, str]:
    """Every partition run carries its import record id as a tag."""
    return {RECORD_ID_TAG: partition_key}


import_job_config = PartitionedConfig(
    partitions_def=import_records_partitions,
    run_config_for_partition_key_fn=config_for_partition,
    tags_for_partition_key_fn=tags_for_partition,
)


def record_run_request(record: ImportRecord, run_key: str) -> RunRequest:
    """A request for the import run of `record`'s partition, tagged with id and source."""
    key = str(record.id)
    return RunRequest(
        run_key=run_key,
        partition_key=key,
        tags={RECORD_ID_TAG: key, SOURCE_TAG: record.source_name},
    )
