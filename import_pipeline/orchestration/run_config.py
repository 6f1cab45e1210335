"""Run configuration of the import job, in one place: sizes, executor, logging, tags."""

import functools
import uuid
from collections.abc import Mapping
from typing import Any, cast

import sqlalchemy as sa
from dagster import PartitionedConfig, RunRequest

from import_pipeline.domain.errors import ImportPipelineError, InvalidPartitionKeyError
from import_pipeline.domain.models import ImportRecord, source_file_name
from import_pipeline.orchestration.assets import IMPORTED_REFERENCES
from import_pipeline.orchestration.executor import executor_config
from import_pipeline.orchestration.partitions import (
    import_records_partitions,
    is_source_key,
    record_id_from_partition_key,
)
from import_pipeline.services.registration import record_source_name
from import_pipeline.settings import SettingsError, get_settings
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.unit_of_work import sql_units

RECORD_ID_TAG = "import_pipeline/record_id"
SOURCE_TAG = "import_pipeline/source"


def run_config(
    batch_size: int,
    chunk_size: int,
    log_level: str = "INFO",
    concurrency: int | None = None,
) -> dict[str, Any]:
    """The import job's run config: sizes, console log level, and the executor.

    `concurrency=None` leaves the executor out: the deployment's, chosen when the run
    starts (`IMPORT_PIPELINE_EXECUTOR`); `execute_in_process` ignores it anyway.
    """
    execution = (
        {"execution": {"config": executor_config(concurrency)}} if concurrency is not None else {}
    )
    return {
        **execution,
        "loggers": {"console": {"config": {"log_level": log_level}}},
        "ops": {
            IMPORTED_REFERENCES: {
                "ops": {
                    "plan_import_batches": {"config": {"batch_size": batch_size}},
                    "process_import_batch": {"config": {"chunk_size": chunk_size}},
                }
            }
        },
    }


def op_config(config: dict[str, Any], op_name: str) -> dict[str, Any]:
    """The config of one of the import graph's ops inside a run config made by `run_config`."""
    ops: dict[str, Any] = config["ops"][IMPORTED_REFERENCES]["ops"]
    return cast(dict[str, Any], ops[op_name]["config"])


def config_for_partition(partition_key: str) -> Mapping[str, Any]:
    """Default run config of a partition's run (UI launches, backfills, sensors, schedule).

    Sizes are read from the settings when the run is created, never at import time. The
    executor is left out: the run's orchestrating process (a daemon's run worker, say)
    picks the deployment's when the run starts.
    """
    settings = get_settings()
    return run_config(settings.batch_size, settings.chunk_size, "INFO")


@functools.cache
def _engine(url: str) -> sa.Engine:
    return create_db_engine(url)


def partition_source_name(partition_key: str, record_id: uuid.UUID) -> str | None:
    """The source name of a partition's record, for run tags; None if it cannot be told.

    A partition named by its source is named after the source's file; for a record id
    the record is looked up (when the run is created: in the code location for the UI
    and backfills). A bad setting or database leaves the tag out: the run itself then
    says what is wrong.
    """
    if is_source_key(partition_key):
        return source_file_name(partition_key)
    try:
        units = sql_units(_engine(get_settings().resolved_database_url))
        return record_source_name(units, record_id)
    except (ImportPipelineError, SettingsError, sa.exc.SQLAlchemyError):
        return None


def tags_for_partition(partition_key: str) -> Mapping[str, str]:
    """Every partition run carries its record id and, where it can be told, its source name.

    These are the tags of runs that the UI's launchpad and backfills create.
    """
    try:
        record_id = record_id_from_partition_key(partition_key)
    except InvalidPartitionKeyError:
        return {}
    source = partition_source_name(partition_key, record_id)
    return {RECORD_ID_TAG: str(record_id), **({SOURCE_TAG: source} if source else {})}


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
