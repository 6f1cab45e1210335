"""How the reference tables are read and written in bulk: one writer per database kind.

`ingest_chunk` decides what to write; a writer does the writing with a fixed number of
statements per chunk. `PostgresWriter` uses psycopg directly in the same transaction:
array parameters (`= ANY`, `unnest`) instead of one bound parameter per value, and
binary COPY for new rows (references, identifiers, the enhancements of new references),
whose rows psycopg encodes in C.
`PortableWriter` uses SQLAlchemy Core and serves SQLite.
"""

import uuid
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import orjson
import psycopg
import sqlalchemy as sa
from psycopg.types.json import Jsonb

from import_pipeline.dedup.normalise import Evidence
from import_pipeline.references.queries import evidence_of_references
from import_pipeline.store.bulk import index_probes, insert_ignoring_conflicts, psycopg_connection
from import_pipeline.store.tables import enhancement, external_identifier, reference

# Keys per look-up statement of the portable writer; keeps SQLite under its parameter limit.
_LOOKUP_BATCH = 5_000


class IdentifierRow(NamedTuple):
    """A canonical identifier to attach to a reference."""

    identifier_key: str
    reference_id: uuid.UUID
    identifier_type: str
    other_identifier_name: str | None
    identifier: str


class EnhancementRow(NamedTuple):
    """An enhancement to store on a reference; `content_json` is its content, serialised.

    It has no id: PostgreSQL fills in `gen_random_uuid()`; the portable writer makes one.
    """

    reference_id: uuid.UUID
    source: str
    visibility: str
    processor_version: str | None
    enhancement_type: str
    content_json: str
    content_hash: str


class ReferenceWriter(Protocol):
    """Bulk reads and writes of the reference tables inside the caller's transaction."""

    def lookup_owners(self, keys: Sequence[str]) -> dict[str, uuid.UUID]:
        """The reference owning each key that exists already."""

    def existing_enhancements(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> set[tuple[uuid.UUID, str]]:
        """(reference id, content hash) of the enhancements these references have."""

    def evidence_of(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """The bibliographic evidence of these references (`dedup.normalise.Evidence`)."""

    def insert_references(self, rows: Sequence[tuple[uuid.UUID, str, Any]]) -> None:
        """Insert new references: (id, visibility, created_at)."""

    def insert_identifiers(self, rows: Sequence[IdentifierRow]) -> int:
        """Insert identifiers, skipping keys that exist; return how many were inserted."""

    def insert_enhancements(self, rows: Sequence[EnhancementRow], *, new_references: bool) -> None:
        """Insert enhancements; with `new_references` no conflict is possible."""


class PortableWriter:
    """SQLAlchemy Core statements that run on any supported database (SQLite)."""

    def __init__(self, connection: sa.Connection) -> None:
        """Write through `connection`."""
        self.connection = connection

    def lookup_owners(self, keys: Sequence[str]) -> dict[str, uuid.UUID]:
        """The reference owning each key that exists already."""
        owners: dict[str, uuid.UUID] = {}
        column = external_identifier.c.identifier_key
        for start in range(0, len(keys), _LOOKUP_BATCH):
            part = list(keys[start : start + _LOOKUP_BATCH])
            rows = self.connection.execute(
                sa.select(column, external_identifier.c.reference_id).where(column.in_(part))
            )
            owners.update(dict(rows.tuples().all()))
        return owners

    def existing_enhancements(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> set[tuple[uuid.UUID, str]]:
        """(reference id, content hash) of the enhancements these references have."""
        found: set[tuple[uuid.UUID, str]] = set()
        ids = list(reference_ids)
        for start in range(0, len(ids), _LOOKUP_BATCH):
            rows = self.connection.execute(
                sa.select(enhancement.c.reference_id, enhancement.c.content_hash).where(
                    enhancement.c.reference_id.in_(ids[start : start + _LOOKUP_BATCH])
                )
            )
            found.update(rows.tuples().all())
        return found

    def evidence_of(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """The bibliographic evidence of these references."""
        return evidence_of_references(self.connection, reference_ids)

    def insert_references(self, rows: Sequence[tuple[uuid.UUID, str, Any]]) -> None:
        """Insert new references."""
        if rows:
            self.connection.execute(
                sa.insert(reference),
                [{"id": i, "visibility": v, "created_at": at} for i, v, at in rows],
            )

    def insert_identifiers(self, rows: Sequence[IdentifierRow]) -> int:
        """Insert identifiers, skipping keys that exist; return how many were inserted."""
        inserted = insert_ignoring_conflicts(
            self.connection,
            external_identifier,
            [row._asdict() for row in rows],
            ["identifier_key"],
            returning=external_identifier.c.identifier_key,
        )
        return len(inserted)

    def insert_enhancements(self, rows: Sequence[EnhancementRow], *, new_references: bool) -> None:
        """Insert enhancements, skipping any stored meanwhile."""
        insert_ignoring_conflicts(
            self.connection,
            enhancement,
            [
                {
                    **row._asdict(),
                    "id": uuid.uuid4(),
                    "content": orjson.loads(row.content_json),
                }
                for row in rows
            ],
            ["reference_id", "content_hash"],
        )


class PostgresWriter:
    """psycopg statements with array parameters and binary COPY (PostgreSQL)."""

    def __init__(self, connection: sa.Connection) -> None:
        """Write through the psycopg connection under `connection` (same transaction)."""
        self.connection = connection
        self.raw = psycopg_connection(connection)

    def lookup_owners(self, keys: Sequence[str]) -> dict[str, uuid.UUID]:
        """The reference owning each key that exists already (one statement)."""
        with index_probes(self.connection), self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT identifier_key, reference_id FROM external_identifier "
                "WHERE identifier_key = ANY(%b)",
                [list(keys)],
                binary=True,
            )
            return dict(cursor.fetchall())

    def existing_enhancements(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> set[tuple[uuid.UUID, str]]:
        """(reference id, content hash) of the enhancements these references have."""
        if not reference_ids:
            return set()
        with index_probes(self.connection), self.raw.cursor() as cursor:
            cursor.execute(
                "SELECT reference_id, content_hash FROM enhancement WHERE reference_id = ANY(%b)",
                [list(reference_ids)],
                binary=True,
            )
            return set(cursor.fetchall())

    def evidence_of(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """The bibliographic evidence of these references (two index look-ups)."""
        return evidence_of_references(self.connection, reference_ids)

    def insert_references(self, rows: Sequence[tuple[uuid.UUID, str, Any]]) -> None:
        """COPY new references in."""
        if not rows:
            return
        with (
            self.raw.cursor() as cursor,
            cursor.copy(
                "COPY reference (id, visibility, created_at) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["uuid", "varchar", "timestamptz"])
            for row in rows:
                copy.write_row(row)

    def insert_identifiers(self, rows: Sequence[IdentifierRow]) -> int:
        """COPY identifiers in, in key order; return how many went in: all, or none.

        None when a concurrent import inserted one of the keys first: the COPY then
        fails as a whole, as the look-up before it could not see that key, and the
        caller, told of the shortfall, rolls the transaction back and retries. Like an
        insert that skips conflicts, the COPY waits for a concurrent writer of the same
        key to end. A COPY because its rows are encoded in C; the five array
        parameters of an `INSERT ... SELECT unnest(...)` were encoded element by element
        in Python, 11 us an identifier.
        """
        if not rows:
            return 0
        try:
            with (
                self.raw.cursor() as cursor,
                cursor.copy(
                    "COPY external_identifier (identifier_key, reference_id, identifier_type, "
                    "other_identifier_name, identifier) FROM STDIN (FORMAT BINARY)"
                ) as copy,
            ):
                copy.set_types(["text", "uuid", "varchar", "text", "text"])
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            return 0
        return len(rows)

    def insert_enhancements(self, rows: Sequence[EnhancementRow], *, new_references: bool) -> None:
        """COPY enhancements of new references; insert others skipping stored ones."""
        if not rows:
            return
        with self.raw.cursor() as cursor:
            if new_references:
                with cursor.copy(
                    "COPY enhancement (reference_id, source, visibility, processor_version, "
                    "enhancement_type, content, content_hash) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(
                        ["uuid", "text", "varchar", "text", "varchar", "jsonb", "varchar"]
                    )
                    for row in rows:
                        copy.write_row(
                            (
                                row.reference_id,
                                row.source,
                                row.visibility,
                                row.processor_version,
                                row.enhancement_type,
                                Jsonb(row.content_json, dumps=str),
                                row.content_hash,
                            )
                        )
                return
            cursor.execute(
                "INSERT INTO enhancement (reference_id, source, visibility, processor_version, "
                "enhancement_type, content, content_hash) "
                "SELECT * FROM unnest(%b::uuid[], %b::text[], %b::varchar[], "
                "%b::text[], %b::varchar[], %b::jsonb[], %b::varchar[]) "
                "ON CONFLICT (reference_id, content_hash) DO NOTHING",
                _columns(rows),
                binary=True,
            )


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column, for `unnest` array parameters."""
    return [list(column) for column in zip(*rows, strict=True)]


def writer_for(connection: sa.Connection) -> ReferenceWriter:
    """The fastest writer for the connection's database."""
    if connection.dialect.name == "postgresql":
        return PostgresWriter(connection)
    return PortableWriter(connection)
