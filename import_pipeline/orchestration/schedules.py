"""`scheduled_import`: a recurring import of a dated source.

The source is `IMPORT_PIPELINE_SCHEDULED_SOURCE` with strftime fields filled from the
tick's date (e.g. `/exports/refs-%Y-%m-%d.jsonl.gz` or an https URL). Each tick registers
one record, whose id is derived from the source it names (so a repeated tick registers
nothing new), adds its partition and requests its run. Schedules cannot add dynamic
partitions through their result, so the partition is added through the instance. A
bad setting, a missing source or an unusable database is a skipped tick saying why.
"""

import uuid

import sqlalchemy.exc
from dagster import RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from import_pipeline.domain.errors import SourceUnreadableError
from import_pipeline.domain.models import ImportRecord, derived_id
from import_pipeline.orchestration.jobs import import_references
from import_pipeline.orchestration.partitions import add_partition
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.orchestration.run_config import record_run_request
from import_pipeline.orchestration.ticks import database_unusable, skip_on_bad_settings
from import_pipeline.services.registration import register_import
from import_pipeline.settings import get_settings
from import_pipeline.sources import local_path

_NAMESPACE = uuid.UUID("0c6f5b0e-9d0a-4f63-8d1e-3e8a4b7c2f10")

# The cron expression is fixed when the code location loads; the source is read per tick.
DEFAULT_CRON = "0 3 * * *"


def scheduled_source_for(template: str, context: ScheduleEvaluationContext) -> str:
    """The template with the tick's date filled in."""
    tick = context.scheduled_execution_time
    return tick.strftime(template) if tick else template


@schedule(
    cron_schedule=DEFAULT_CRON,
    job=import_references,
    description="Imports the configured dated source (IMPORT_PIPELINE_SCHEDULED_SOURCE) daily.",
)
@skip_on_bad_settings
def scheduled_import(
    context: ScheduleEvaluationContext, database: DatabaseResource
) -> RunRequest | SkipReason:
    """Register the tick's source as a record and request its run; skip with the reason."""
    settings = get_settings()
    if not settings.scheduled_source:
        return SkipReason("IMPORT_PIPELINE_SCHEDULED_SOURCE is not set: nothing to import")
    source = scheduled_source_for(settings.scheduled_source, context)
    path = local_path(source)
    if path is not None and not path.is_file():
        return SkipReason(f"scheduled source {source} does not exist (yet)")
    record = ImportRecord(
        id=derived_id(_NAMESPACE, source),
        source_name=settings.scheduled_source_name,
        processor_name="scheduled_import",
        processor_version="1",
        notes=f"scheduled import of {source}",
    )
    try:
        register_import(database.units, record, [source], once=True)
    except SourceUnreadableError as error:
        return SkipReason(f"scheduled source unreadable: {error}")
    except sqlalchemy.exc.DBAPIError as error:
        return database_unusable(error)
    key = add_partition(record.id, context.instance)
    return record_run_request(record, f"scheduled:{key}")
