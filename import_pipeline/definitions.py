"""The Dagster code location: `defs`. Builds objects only; no I/O at import time."""

import warnings

from dagster import BetaWarning, Definitions

from import_pipeline.orchestration.assets import imported_references
from import_pipeline.orchestration.checks import import_checks
from import_pipeline.orchestration.jobs import import_references
from import_pipeline.orchestration.registration_job import register_import_source
from import_pipeline.orchestration.resources import (
    DatabaseResource,
    StepSettingsResource,
)
from import_pipeline.orchestration.schedules import scheduled_import
from import_pipeline.orchestration.sensors import new_source_sensor, registered_batches_sensor
from import_pipeline.orchestration.step_outputs import InstanceStepOutputs

# Dagster 1.13 warns that sensor `owners` is in beta whenever it binds resources to a
# sensor, though no owners are given (its own copy passes an empty list): not ours to fix.
warnings.filterwarnings("ignore", message=".*Parameter `owners`.*", category=BetaWarning)


def build_definitions(database_url: str | None = None) -> Definitions:
    """The project's definitions, on `database_url` (None: from the environment at run time)."""
    return Definitions(
        assets=[imported_references],
        asset_checks=import_checks,
        jobs=[import_references, register_import_source],
        sensors=[new_source_sensor, registered_batches_sensor],
        schedules=[scheduled_import],
        resources={
            "database": DatabaseResource(database_url=database_url),
            "step_settings": StepSettingsResource(),
            "io_manager": InstanceStepOutputs(),
        },
    )


defs = build_definitions()
