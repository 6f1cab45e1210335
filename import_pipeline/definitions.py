"""The Dagster code location: `defs`. Builds objects only; no I/O at import time."""

from dagster import Definitions

from import_pipeline.orchestration.jobs import import_references
from import_pipeline.orchestration.resources import DatabaseResource, ReferenceResource
from import_pipeline.orchestration.schedules import scheduled_import
from import_pipeline.orchestration.sensors import new_source_sensor, registered_batches_sensor


def build_definitions(database_url: str | None = None) -> Definitions:
    """The project's definitions, on `database_url` (None: from the environment at run time)."""
    database = DatabaseResource(database_url=database_url)
    return Definitions(
        jobs=[import_references],
        sensors=[new_source_sensor, registered_batches_sensor],
        schedules=[scheduled_import],
        resources={"database": database, "references": ReferenceResource(database=database)},
    )


defs = build_definitions()
