"""Dagster resources: the database engine and the reference resource built on it."""

from collections.abc import Sequence

import sqlalchemy as sa
from dagster import ConfigurableResource, InitResourceContext, ResourceDependency
from pydantic import Field, PrivateAttr

from import_pipeline.domain.parsing import ParsedLine
from import_pipeline.references.ingest import LineOutcome, ingest_chunk
from import_pipeline.references.queries import count_references
from import_pipeline.settings import get_settings
from import_pipeline.store.engine import create_db_engine


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
    def engine(self) -> sa.Engine:
        """The engine, created on first use."""
        if self._engine is None:
            self._engine = create_db_engine(
                self.database_url or get_settings().resolved_database_url
            )
        return self._engine


class ReferenceResource(ConfigurableResource):  # type: ignore[type-arg]
    """Creates and merges references in bulk: the references domain's door.

    The import domain hands it parsed lines; it owns the reference, identifier and
    enhancement tables and the exact-duplicate rule.
    """

    database: ResourceDependency[DatabaseResource]

    def ingest_chunk(
        self, connection: sa.Connection, lines: Sequence[ParsedLine]
    ) -> list[LineOutcome]:
        """Create or merge the references of `lines` in the caller's transaction."""
        return ingest_chunk(connection, lines)

    def reference_count(self) -> int:
        """How many references the repository holds."""
        with self.database.engine.connect() as connection:
            return count_references(connection)
