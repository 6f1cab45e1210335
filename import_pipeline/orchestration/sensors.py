"""Sensors that start imports without anyone launching a run by hand.

- `new_source_sensor`: one ImportRecord, partition and run per new file in the landing
  directory (see `import_pipeline.services.landing` for what counts as new);
- `registered_batches_sensor`: a run for every record whose batches were registered
  (CLI `register`, HTTP API) but that no run has picked up yet.
Both are on by default; each returns one `SensorResult` or a `SkipReason` saying why,
never raises for a bad setting or an unusable database (`orchestration.ticks`).
"""

import datetime
import time

import sqlalchemy.exc
from dagster import (
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from import_pipeline.domain.errors import SourceUnreadableError
from import_pipeline.domain.models import utc_now
from import_pipeline.orchestration.jobs import import_references
from import_pipeline.orchestration.partitions import (
    IMPORT_RECORDS_PARTITION,
    import_records_partitions,
)
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.orchestration.run_config import record_run_request
from import_pipeline.orchestration.ticks import database_unusable, skip_on_bad_settings
from import_pipeline.services.landing import (
    LandedFileError,
    landed_record,
    new_sources,
    scan_landing_directory,
)
from import_pipeline.services.queries import records_with_waiting_batches
from import_pipeline.services.registration import register_import
from import_pipeline.settings import get_settings

# A batch must have waited this long: `import-pipeline import` registers then runs at once.
REGISTRATION_GRACE_SECONDS = 20

_ACTIVE_RUN_STATUSES = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]


@sensor(
    job=import_references,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Imports each new .jsonl / .jsonl.gz file dropped in the landing directory.",
)
@skip_on_bad_settings
def new_source_sensor(
    context: SensorEvaluationContext, database: DatabaseResource
) -> SensorResult | SkipReason:
    """One record, partition and run per new, settled file in the landing directory.

    A file that cannot be registered as it is (unreadable, a bad sidecar) is logged,
    naming it and the field, and waits; the other files are registered all the same.
    """
    settings = get_settings()
    directory = settings.resolved_landing_dir
    try:
        files = scan_landing_directory(directory)
    except OSError as error:
        return SkipReason(f"landing directory {directory} cannot be read: {error}")
    known = set(context.instance.get_dynamic_partitions(IMPORT_RECORDS_PARTITION))
    fresh = new_sources(files, known, time.time(), settings.landing_settle_seconds)
    if not fresh:
        return SkipReason(f"no new settled source in {directory} ({len(files)} file(s) seen)")
    keys, requests, waiting = [], [], []
    for landed in fresh:
        try:
            record = landed_record(landed)
            register_import(database.units, record, [str(landed.path)], once=True)
        except (LandedFileError, SourceUnreadableError) as error:
            context.log.error(f"not imported until fixed: {error}")
            waiting.append(str(error))
            continue
        except sqlalchemy.exc.DBAPIError as error:
            return database_unusable(error)
        key = str(record.id)
        keys.append(key)
        requests.append(record_run_request(record, f"landed:{key}"))
        context.log.info(f"{landed.path}: import record {key} ({record.source_name})")
    if not requests:
        return SkipReason(f"no new file could be registered: {'; '.join(waiting)}")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[import_records_partitions.build_add_request(keys)],
        cursor=str(time.time()),
    )


@sensor(
    job=import_references,
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Runs the import for records whose batches were registered without a run.",
)
@skip_on_bad_settings
def registered_batches_sensor(
    context: SensorEvaluationContext, database: DatabaseResource
) -> SensorResult | SkipReason:
    """A run per record that has batches waiting (`created`) and no active run.

    A record that a run is writing (its writer lease is fresh) is left alone too, even
    when that run belongs to another Dagster instance.

    The run key names the waiting batches, so each batch is requested once; a batch
    added later to the same record gets a run of its own.
    """
    now = utc_now()
    cutoff = now - datetime.timedelta(seconds=REGISTRATION_GRACE_SECONDS)
    lease_cutoff = now - datetime.timedelta(seconds=get_settings().writer_lease_seconds)
    try:
        waiting = records_with_waiting_batches(
            database.units, cutoff, lease_stale_before=lease_cutoff
        )
    except sqlalchemy.exc.DBAPIError as error:
        return database_unusable(error)
    if not waiting:
        return SkipReason("no registered batch is waiting")
    known = set(context.instance.get_dynamic_partitions(IMPORT_RECORDS_PARTITION))
    keys, requests = [], []
    for record, batch_ids in waiting:
        key = str(record.id)
        active = context.instance.get_runs(
            RunsFilter(tags={"dagster/partition": key}, statuses=_ACTIVE_RUN_STATUSES), limit=1
        )
        if active:
            continue
        if key not in known:
            keys.append(key)
        requests.append(
            record_run_request(record, "batches:" + ",".join(sorted(map(str, batch_ids))))
        )
    if not requests:
        return SkipReason("every record with waiting batches has a run in progress")
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [import_records_partitions.build_add_request(keys)] if keys else []
        ),
    )
