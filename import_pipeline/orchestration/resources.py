"""Dagster resources: the database (units of work on it) and the step settings.

The references domain has no resource of its own: an op reaches it through the
unit of work's `references` store, in the same transaction as the import tables.
"""

import sqlalchemy as sa
from dagster import ConfigurableResource, Failure, InitResourceContext
from pydantic import Field, PrivateAttr

from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.settings import Settings, SettingsError, get_settings
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.unit_of_work import sql_units


class DatabaseResource(ConfigurableResource):  # type: ignore[type-arg]
    """The SQL database of the import and reference tables (one engine per process).

    The engine is created when first used, not when Dagster sets the resource up, so
    that a bad `IMPORT_PIPELINE_*` setting is raised (`SettingsError`) inside the op,
    sensor or schedule that uses it, which reports it, and not before any of its code.
    """

    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; empty: IMPORT_PIPELINE_DATABASE_URL or the SQLite default.",
    )
    _engine: sa.Engine | None = PrivateAttr(default=None)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        """Close the engine's pooled connections."""
        if self._engine is not None:
            self._engine.dispose()

    @property
    def units(self) -> UnitOfWorkFactory:
        """Units of work on the engine: what the services are given."""
        return sql_units(self.engine)

    @property
    def engine(self) -> sa.Engine:
        """The engine, created on first use."""
        if self._engine is None:
            self._engine = create_db_engine(
                self.database_url or get_settings().resolved_database_url
            )
        return self._engine


class StepSettingsResource(ConfigurableResource):  # type: ignore[type-arg]
    """How import steps write and recover, resolved in the process that runs the step.

    The defaults have one home, the settings (`IMPORT_PIPELINE_*`, read where the step
    runs: the CLI's process, a step process, a daemon's run worker); a field set here
    (in the definitions, or for one run in its run config under
    `resources: step_settings: config:`) overrides its setting.
    """

    writers: int | None = Field(
        default=None, ge=1, description="Chunks written at once (IMPORT_PIPELINE_WRITERS)."
    )
    batch_workers: int | None = Field(
        default=None,
        ge=1,
        description="Worker processes sharing one large batch (IMPORT_PIPELINE_BATCH_WORKERS).",
    )
    retries: int | None = Field(
        default=None,
        ge=0,
        description="Retries after a transient fault (IMPORT_PIPELINE_RETRIES).",
    )
    retry_delay_seconds: float | None = Field(
        default=None,
        ge=0,
        description="First retry's delay, doubled each time (IMPORT_PIPELINE_RETRY_DELAY_SECONDS).",
    )
    deduplicate: bool | None = Field(
        default=None,
        description="Decide probable duplicates after the batches (IMPORT_PIPELINE_DEDUPLICATE).",
    )
    writer_lease_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Seconds a record stays claimed by a silent run "
        "(IMPORT_PIPELINE_WRITER_LEASE_SECONDS).",
    )

    def resolve(self) -> Settings:
        """The settings of this process with this resource's overrides applied.

        A bad setting fails the step with its one-line message (the deployment's mistake,
        not the record's), and is never retried.
        """
        try:
            settings = get_settings()
        except SettingsError as error:
            raise Failure(description=str(error), allow_retries=False) from None
        overrides = {key: value for key, value in self.model_dump().items() if value is not None}
        return settings.model_copy(update=overrides)
