"""The ops of the import job: plan the record's batches, process each, deduplicate, finalise.

Each op reads its config and resources, calls one service function, and reports.
"""

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, NoReturn

from dagster import (
    Config,
    DagsterRunStatus,
    DynamicOut,
    DynamicOutput,
    Failure,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    Output,
    RetryRequested,
    op,
)
from pydantic import Field

from import_pipeline.domain.errors import DomainError, InvalidPartitionKeyError, UnknownBatchError
from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.orchestration.batch_keys import batch_mapping_keys
from import_pipeline.orchestration.partitions import is_source_key, record_id_from_partition_key
from import_pipeline.orchestration.record_metadata import FAILURE_TABLE_ROWS, record_metadata
from import_pipeline.orchestration.resources import (
    DatabaseResource,
    StepSettingsResource,
)
from import_pipeline.services import deduplication
from import_pipeline.services.batches import TransientBatchError, process_batch
from import_pipeline.services.finalise import failed_lines, finalise_record
from import_pipeline.services.planning import planned_batch, start_and_plan_batches
from import_pipeline.services.progress import BatchProgress, BatchProgressLog
from import_pipeline.services.registration import register_partition_source
from import_pipeline.services.retry_budget import RetryBudget
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.services.writer_lease import (
    LeaseKeeper,
    RecordBusyError,
    RunFinished,
    claim_record,
    release_record,
    wait_and_claim,
)
from import_pipeline.store.errors import is_transient_db_error

# Dagster concurrency pool of the batch steps: caps how many write to the database at
# once across all runs (limit set in dagster.yaml, `concurrency: pools:`).
WRITER_POOL = "reference_writers"
# A batch step looks this often whether its run was asked to terminate.
TERMINATION_CHECK_SECONDS = 2.0
# A run being terminated, or one that already failed: a celery task of a run that failed
# while the task waited in the queue (its worker lost, see step_watch.py) must not write.
_TERMINATING = {DagsterRunStatus.CANCELING, DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE}


class PlanConfig(Config):
    """How the source is split into batches."""

    batch_size: int = Field(default=50_000, ge=1, description="Source lines per batch.")


class BatchConfig(Config):
    """How a batch is written in this run (what the deployment sets: `StepSettingsResource`)."""

    chunk_size: int = Field(default=2_000, ge=1, description="Lines per database transaction.")
    progress_log_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Log the batch's progress this often (and at every tenth of its lines).",
    )


def _run_finished(context: OpExecutionContext) -> RunFinished:
    """Whether a run of this instance has finished (unknown runs: not known to have)."""

    def finished(run_id: str) -> bool:
        run = context.instance.get_run_by_id(run_id)
        return run is not None and run.is_finished

    return finished


def _record_id(context: OpExecutionContext) -> Any:
    try:
        return record_id_from_partition_key(
            context.partition_key if context.has_partition_key else None
        )
    except InvalidPartitionKeyError as error:
        raise Failure(description=str(error), allow_retries=False) from None


@op(out=DynamicOut(str), tags={"kind": "plan"})
def plan_import_batches(
    context: OpExecutionContext,
    config: PlanConfig,
    database: DatabaseResource,
    step_settings: StepSettingsResource,
) -> Iterator[DynamicOutput[str]]:
    """Claim the partition's record, start it and fan out its unfinished batches.

    A partition named by a source path or URL (the UI's "Add partition") registers its
    record on its first run. Only one run writes a record at a time: while another run
    holds the record's lease, this one waits (at most one lease period) and then fails
    without writing anything. Each batch step is named after its source and line range.
    """
    record_id = _record_id(context)
    try:
        if is_source_key(context.partition_key):
            register_partition_source(
                database.units, record_id, context.partition_key, processor_name="dagster-ui"
            )
        wait_and_claim(
            database.units,
            record_id,
            context.run_id,
            lease_seconds=step_settings.resolve().writer_lease_seconds,
            holder_finished=_run_finished(context),
            on_wait=context.log.info,
        )
        batches = start_and_plan_batches(database.units, record_id, config.batch_size)
    except DomainError as error:
        raise Failure(description=str(error), allow_retries=False) from None
    context.log.info(f"import record {record_id}: {len(batches)} batch(es) to process")
    for batch, key in zip(batches, batch_mapping_keys(batches), strict=True):
        context.log.info(f"batch {batch.id}: {batch.label} (step process_import_batch[{key}])")
        yield DynamicOutput(str(batch.id), mapping_key=key)


class RunTerminatedError(BaseException):
    """The batch's run was asked to terminate (a BaseException, like an interrupt)."""


def _stop_when_terminated(context: OpExecutionContext) -> Callable[[], None]:
    """A check that raises `RunTerminatedError` once the run is being terminated.

    Terminating a run whose process no launcher can signal (an `import-pipeline import`,
    a `dagster job execute`) only marks it `CANCELING`; the batch looks at most every
    `TERMINATION_CHECK_SECONDS` and stops.
    """
    last_check = [float("-inf")]

    def check() -> None:
        now = time.monotonic()
        if now - last_check[0] < TERMINATION_CHECK_SECONDS:
            return
        last_check[0] = now
        run = context.instance.get_run_by_id(context.run_id)
        if run is not None and run.status in _TERMINATING:
            raise RunTerminatedError(f"run {context.run_id} is {run.status.value}")

    return check


@op(pool=WRITER_POOL, tags={"kind": "batch"})
def process_import_batch(
    context: OpExecutionContext,
    config: BatchConfig,
    database: DatabaseResource,
    step_settings: StepSettingsResource,
    batch_id: str,
) -> Output[dict[str, Any]]:
    """Import one batch's lines: references created and merged, one result per line.

    A transient fault (deadlock, lost connection, database outage, dead worker process)
    is retried with exponential backoff and jitter, by `RetryRequested` within the
    configured budget; past it the step fails, the interrupted lines stay `retrying` and
    the record `started`, for a later run to finish. Any other error fails the step at
    once and leaves the record `started` too. A terminated run stops within seconds.
    """
    settings = step_settings.resolve()
    budget = RetryBudget(settings.retries, settings.retry_delay_seconds)
    progress = BatchProgressLog(context.log.info, interval=config.progress_log_seconds)
    stop_when_terminated = _stop_when_terminated(context)
    record_id = _record_id(context)
    lease = LeaseKeeper(
        database.units, record_id, context.run_id, lease_seconds=settings.writer_lease_seconds
    )

    def on_progress(batch: BatchProgress) -> None:
        progress.update(batch)
        stop_when_terminated()
        lease.renew()

    try:
        stop_when_terminated()
        batch = planned_batch(database.units, uuid.UUID(batch_id))
        context.log.info(f"batch {batch_id}: {batch.label} from {batch.storage_url}")
        claim_record(
            database.units,
            record_id,
            context.run_id,
            lease_seconds=settings.writer_lease_seconds,
            holder_finished=_run_finished(context),
        )
        report = process_batch(
            database.units,
            uuid.UUID(batch_id),
            chunk_size=config.chunk_size,
            writers=settings.writers,
            workers=settings.batch_workers,
            http_max_bytes=settings.http_max_bytes,
            http_limits=settings.http_limits,
            storage_policy=StoragePolicy.from_entries(settings.storage_allowlist_entries),
            on_progress=on_progress,
        )
    except RunTerminatedError as stop:
        raise Failure(
            description=f"batch {batch_id} stopped: {stop}; the record stays started",
            allow_retries=False,
        ) from None
    except (RecordBusyError, UnknownBatchError) as error:
        raise Failure(description=str(error), allow_retries=False) from None
    except Exception as error:
        _retry_or_fail(
            context,
            budget,
            error,
            failed=f"batch {batch_id} failed: ",
            gave_up=": the lines stay retrying and the record started, for a later run to finish",
        )
    rate = report.lines_processed / report.seconds if report.seconds else 0.0
    return Output(
        {
            "batch_id": batch_id,
            "status": str(report.status),
            "lines": report.lines_processed,
            "seconds": report.seconds,
        },
        metadata={
            "batch_id": batch_id,
            "batch": batch.label,
            "source": batch.storage_url,
            "line_start": batch.line_start or 1,
            **({"line_end": batch.line_end} if batch.line_end else {}),
            "status": str(report.status),
            "lines_processed": report.lines_processed,
            "lines_skipped_already_settled": report.lines_skipped,
            "lines_per_second": round(rate, 1),
            "seconds": round(report.seconds, 3),
            "identifier_race_retries": report.race_retries,
            "counts": MetadataValue.json(report.counts),
            **({"failure_details": report.failure_details} if report.failure_details else {}),
        },
    )


def _retry_or_fail(
    context: OpExecutionContext,
    budget: RetryBudget,
    error: Exception,
    *,
    failed: str = "",
    gave_up: str = "",
) -> NoReturn:
    """Raise `RetryRequested` for a transient fault within the budget, `Failure` otherwise.

    Transient: a `TransientBatchError` (a dead worker process) or a transient database
    error (`is_transient_db_error`). `failed` starts the description of a step failed by
    any other error; `gave_up` ends that of a step out of retries.
    """
    if not isinstance(error, TransientBatchError) and not is_transient_db_error(error):
        raise Failure(
            description=f"{failed}{type(error).__name__}: {error}; the record stays started",
            allow_retries=False,
        ) from error
    if budget.exhausted(context.retry_number):
        raise Failure(
            description=f"{error}; gave up after {budget.retries} retries{gave_up}",
            allow_retries=False,
        ) from error
    delay = budget.delay(context.retry_number)
    context.log.warning(f"transient fault, retrying in {delay:.1f} s: {error}")
    raise RetryRequested(max_retries=budget.retries, seconds_to_wait=delay) from error


@op(tags={"kind": "deduplicate"})
def deduplicate_record(
    context: OpExecutionContext,
    database: DatabaseResource,
    step_settings: StepSettingsResource,
    batch_reports: list[dict[str, Any]],
) -> Output[list[dict[str, Any]]]:
    """Decide the record's new references against the repository (probable duplicates).

    After every batch, before the record is finalised, its own step so that it is
    retried (transient faults, within the step settings' budget: the step is
    idempotent), observed and timed on its own. Passes the batch reports on to
    finalise; its metadata counts the record's decisions and the references per second.
    It decides only with the `deduplicate` setting on (`IMPORT_PIPELINE_DEDUPLICATE`, off
    by default until the step is fast enough to run after every import: it decides about
    2,000 generated references a second, about a fifth of the import's pace); off, it says so
    and passes the reports on.
    """
    settings = step_settings.resolve()
    if not settings.deduplicate:
        context.log.info(
            "probable duplicates are not decided in the run (IMPORT_PIPELINE_DEDUPLICATE is "
            "off): `import-pipeline dedupe RECORD_ID` decides them"
        )
        return Output(batch_reports, metadata={"deduplication": "off"})
    budget = RetryBudget(settings.retries, settings.retry_delay_seconds)
    record_id = _record_id(context)
    lease = LeaseKeeper(
        database.units, record_id, context.run_id, lease_seconds=settings.writer_lease_seconds
    )
    try:
        report = deduplication.deduplicate_record(
            database.units, record_id, on_progress=lambda _decided: lease.renew()
        )
    except DomainError as error:
        raise Failure(description=str(error), allow_retries=False) from None
    except Exception as error:
        _retry_or_fail(context, budget, error)
    counts = report.counts
    context.log.info(
        f"import record {record_id}: {report.references} new reference(s) decided "
        f"({counts.get('canonical', 0)} canonical, {counts.get('duplicate', 0)} duplicate, "
        f"{counts.get('unresolved', 0)} unresolved), {report.changed} decision(s) written"
    )
    return Output(
        batch_reports,
        metadata={
            "record_id": str(record_id),
            "references": report.references,
            **{f"decisions_{name}": count for name, count in sorted(counts.items())},
            "decisions_written": report.changed,
            "decisions_kept": report.kept,
            "references_per_second": round(report.references_per_second, 1),
            "seconds": round(report.seconds, 3),
            "index_pass_seconds": round(report.index_seconds, 3),
        },
    )


@op(out=Out(Nothing), tags={"kind": "finalise"})
def finalise_import_record(
    context: OpExecutionContext, database: DatabaseResource, batch_reports: list[dict[str, Any]]
) -> Output[None]:
    """Complete the record, give up its writer lease, and publish its counts as metadata.

    Its output is the `imported_references` asset's partition: the references are in the
    database, so nothing is stored by an IO manager; the metadata is the materialization's.
    A record that ends `failed` (no source could be imported whole) fails the step and
    so the run, with the record's reason: in the UI a failed import is red. Lines that
    failed one by one never do (they show in the metadata and the asset checks).
    """
    record_id = _record_id(context)
    try:
        summary = finalise_record(database.units, record_id)
    except DomainError as error:
        raise Failure(description=str(error), allow_retries=False) from None
    finally:
        release_record(database.units, record_id, context.run_id)
    run = context.instance.get_run_record_by_id(context.run_id)
    started = run.start_time if run and run.start_time else time.time()
    metadata = record_metadata(
        summary,
        failed_lines(database.units, record_id, FAILURE_TABLE_ROWS),
        lines_this_run=sum(report["lines"] for report in batch_reports),
        batch_seconds=sum(report["seconds"] for report in batch_reports),
        run_seconds=time.time() - started,
    )
    if summary.record.status == ImportRecordStatus.FAILED:  # failed means red
        raise Failure(
            description=f"import record {record_id} failed: {summary.record.failure_details}",
            metadata=metadata,
            allow_retries=False,
        )
    return Output(None, metadata=metadata)
