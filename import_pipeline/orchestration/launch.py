"""Launching the import job for one record from Python (the CLI), on a given instance.

A run started here belongs to the code location that the UI loads: the UI lists a job's
runs (Runs tab, timeline, run-based partition status) by the `.dagster/repository` tag
that Dagster derives from a run's code-location origin, which `dagster.execute_job`
never sets. So the run is created with the origin of the location that
`dagster dev -m import_pipeline.definitions`, `dagster-webserver -w workspace.yaml` and
`dagster-daemon` load (named after the module), then executed here as `execute_job`
would. Dagster exports no public API for this; the three names used come from its
`_core` package (1.13, pinned), and a test over the webserver's GraphQL API would see
them break.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterInstance,
    JobDefinition,
    JobExecutionResult,
    reconstructable,
)
from dagster._core.execution.api import execute_run
from dagster._core.remote_origin import (
    ManagedGrpcPythonEnvCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

from import_pipeline.definitions import build_definitions
from import_pipeline.domain.excerpts import first_line
from import_pipeline.orchestration.executor import launch_executor_config
from import_pipeline.orchestration.jobs import IMPORT_JOB_NAME
from import_pipeline.orchestration.partitions import add_partition
from import_pipeline.orchestration.run_config import SOURCE_TAG, run_config
from import_pipeline.orchestration.step_watch import StepLostError

LOST_MARK = f"{StepLostError.__name__}: "

# The code location's name wherever it is loaded from its module (`-m`, workspace.yaml
# without a `location_name`), and its repository's name (a `Definitions` object's).
CODE_LOCATION_NAME = "import_pipeline.definitions"
REPOSITORY_NAME = "__repository__"


def import_job_from_environment() -> JobDefinition:
    """The import job with resources configured from the environment.

    Module-level so that `reconstructable` can rebuild it in each step process of the
    multiprocess executor.
    """
    return build_definitions().resolve_job_def(IMPORT_JOB_NAME)


def code_location_origin(job_name: str) -> RemoteJobOrigin:
    """The origin a job of this code location has when the webserver or daemon loads it."""
    location = ManagedGrpcPythonEnvCodeLocationOrigin(
        LoadableTargetOrigin(module_name=CODE_LOCATION_NAME, working_directory=str(Path.cwd())),
        location_name=CODE_LOCATION_NAME,
    )
    return RemoteJobOrigin(RemoteRepositoryOrigin(location, REPOSITORY_NAME), job_name)


@dataclass(frozen=True)
class RunOutcome:
    """How a launched run ended: success, its id, and the first step failure's reason."""

    success: bool
    run_id: str
    failure: str | None


def _first_failure(result: JobExecutionResult) -> str | None:
    """The first line of the first step failure's description or error, if any.

    A run can also fail outside any step (a celery step lost with its worker, see
    `step_watch.py`): then the reason the run failed with, the lost step's line first.
    """
    for event in result.all_events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        text = data.user_failure_data.description if data.user_failure_data else None
        text = text or (data.error.message if data.error else None) or event.message or ""
        return first_line(text, "(no message)")
    if result.success:
        return None
    for event in result.all_events:
        error = getattr(event.event_specific_data, "error", None)
        if event.event_type == DagsterEventType.RUN_FAILURE and error is not None:
            lost = [line for line in error.message.splitlines() if LOST_MARK in line]
            return lost[0].split(LOST_MARK, 1)[1] if lost else first_line(error.message, "?")
    return "the run did not finish (see its event log)"


def run_import_job(
    record_id: uuid.UUID,
    instance: DagsterInstance,
    *,
    source_name: str,
    database_url: str,
    batch_size: int,
    chunk_size: int,
    concurrency: int,
    log_level: str = "CRITICAL",
    executor: Mapping[str, Any] | None = None,
) -> RunOutcome:
    """Add the record's partition and run the import job for it.

    On the deployment's celery workers when `IMPORT_PIPELINE_EXECUTOR=celery`; otherwise
    up to `concurrency` batches run at once in their own processes, and with 1 the whole
    run stays in this process. `executor` (an `execution: config:` section) overrides
    both. The run is recorded in `instance`, so it shows in the UI. The database URL
    travels in the run config (the `database` resource), so that every step process and
    worker uses it whatever its environment.
    """
    key = add_partition(record_id, instance)
    config = run_config(batch_size, chunk_size, log_level)
    execution = executor if executor is not None else launch_executor_config(concurrency)
    if execution is not None:
        config["execution"] = {"config": dict(execution)}
    config["resources"] = {"database": {"config": {"database_url": database_url}}}
    job = reconstructable(import_job_from_environment)
    load_data = job.repository.get_definition().repository_load_data
    job = job.with_repository_load_data(load_data)
    job_def = job.get_definition()
    tags = {
        **job_def.run_tags,
        **job_def.get_tags_for_partition_key(key, selected_asset_keys=None),
        SOURCE_TAG: source_name,
    }
    run = instance.create_run_for_job(
        job_def=job_def,
        run_config=config,
        tags=tags,
        remote_job_origin=code_location_origin(job_def.name),
        job_code_origin=job.get_python_origin(),
        repository_load_data=load_data,
    )
    with execute_run(job, run, instance, raise_on_error=False) as result:
        return RunOutcome(result.success, result.run_id, _first_failure(result))
