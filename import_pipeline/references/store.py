"""The references domain's SQL store: what `UnitOfWork.references` is on a database."""

from collections.abc import Sequence

import sqlalchemy as sa

from import_pipeline.domain.outcomes import LineOutcome
from import_pipeline.domain.parsing import ParsedLine
from import_pipeline.references.ingest import ingest_chunk
from import_pipeline.references.queries import count_references
from import_pipeline.references.writers import writer_for


class SqlReferenceStore:
    """Creates and merges references on the unit of work's connection (its transaction)."""

    def __init__(self, connection: sa.Connection) -> None:
        """Work in `connection`'s transaction."""
        self._connection = connection

    def ingest(self, lines: Sequence[ParsedLine]) -> list[LineOutcome]:
        """Create or merge the references of `lines` (`references.ingest.ingest_chunk`)."""
        return ingest_chunk(writer_for(self._connection), lines)

    def count(self) -> int:
        """How many references the repository holds."""
        return count_references(self._connection)
