"""Set-based ingest of a chunk of parsed lines into the reference tables.

One call handles a chunk in the caller's transaction with a fixed number of
statements, whatever the chunk's size: one identifier look-up, then bulk inserts of
new references, identifiers (sorted, so concurrent writers take locks in one order)
and enhancements. Exact duplicates are merged by canonical identifier (spec
section 3); a line whose identifiers belong to two or more references writes nothing
and fails with the ids involved.

Concurrency: the look-up runs before the inserts, so a concurrent transaction may
insert one of our "new" identifiers in between. The identifier insert skips
conflicting keys and reports which it inserted; any shortfall raises
`IdentifierRaceError`, a transient error: the caller rolls back and tries the chunk
again, and the retry sees the other transaction's references and merges into them.
"""

import hashlib
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson
import sqlalchemy as sa

from import_pipeline.domain.enhancements import Enhancement
from import_pipeline.domain.models import utc_now
from import_pipeline.domain.parsing import ParsedLine
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.store.bulk import insert_ignoring_conflicts
from import_pipeline.store.errors import TransientDatabaseError
from import_pipeline.store.tables import enhancement, external_identifier, reference

# Keys per look-up statement; keeps SQLite under its bound-parameter limit.
_LOOKUP_BATCH = 5_000


class IdentifierRaceError(TransientDatabaseError):
    """A concurrent transaction inserted identifiers this chunk meant to create."""


@dataclass(frozen=True, slots=True)
class LineOutcome:
    """What happened to one line: its result status, reference and details."""

    line_number: int
    status: ImportResultStatus
    reference_id: uuid.UUID | None = None
    reference_created: bool | None = None
    failure_details: str | None = None


def enhancement_hash(item: Enhancement) -> str:
    """Identity of an enhancement on a reference: its source, type and content."""
    payload = orjson.dumps(
        [item.source, item.enhancement_type, item.content], option=orjson.OPT_SORT_KEYS
    )
    return hashlib.sha256(payload).hexdigest()


def lookup_owners(connection: sa.Connection, keys: Iterable[str]) -> dict[str, uuid.UUID]:
    """The reference owning each of `keys` that exists already."""
    ordered = sorted(set(keys))
    owners: dict[str, uuid.UUID] = {}
    column = external_identifier.c.identifier_key
    for start in range(0, len(ordered), _LOOKUP_BATCH):
        part = ordered[start : start + _LOOKUP_BATCH]
        rows = connection.execute(
            sa.select(column, external_identifier.c.reference_id).where(column.in_(part))
        )
        owners.update(dict(rows.tuples().all()))
    return owners


def _conflict_details(line: ParsedLine, owners: dict[str, uuid.UUID]) -> str:
    involved = sorted(
        f"{identifier.key} -> {owners[identifier.key]}"
        for identifier in line.identifiers
        if identifier.key in owners
    )
    return (
        f"Entry {line.line_number}: identifiers belong to different references, "
        f"nothing written: {'; '.join(involved)}"
    )


def ingest_chunk(connection: sa.Connection, lines: Sequence[ParsedLine]) -> list[LineOutcome]:
    """Create or merge the references of `lines` (all parsed, none failed) in one transaction.

    Returns one outcome per line, in the order given. Raises `IdentifierRaceError` when
    a concurrent transaction won an identifier; the caller must roll back and retry.
    """
    owners = lookup_owners(connection, (i.key for line in lines for i in line.identifiers))
    now = utc_now()
    outcomes: list[LineOutcome] = []
    new_references: list[dict[str, object]] = []
    new_identifiers: dict[str, dict[str, object]] = {}
    new_enhancements: dict[tuple[uuid.UUID, str], dict[str, object]] = {}
    for line in lines:
        matched = {owners[i.key] for i in line.identifiers if i.key in owners}
        if len(matched) > 1:
            outcomes.append(
                LineOutcome(
                    line.line_number,
                    ImportResultStatus.FAILED,
                    failure_details=_conflict_details(line, owners),
                )
            )
            continue
        created = not matched
        reference_id = uuid.uuid4() if created else matched.pop()
        if created:
            new_references.append(
                {"id": reference_id, "visibility": line.visibility, "created_at": now}
            )
        for identifier in line.identifiers:
            if identifier.key not in owners:
                owners[identifier.key] = reference_id
                new_identifiers[identifier.key] = {
                    "identifier_key": identifier.key,
                    "reference_id": reference_id,
                    "identifier_type": identifier.identifier_type,
                    "other_identifier_name": identifier.other_identifier_name,
                    "identifier": identifier.identifier,
                }
        for item in line.enhancements:
            content_hash = enhancement_hash(item)
            new_enhancements.setdefault(
                (reference_id, content_hash),
                {
                    "id": uuid.uuid4(),
                    "reference_id": reference_id,
                    "source": item.source,
                    "visibility": item.visibility,
                    "processor_version": item.processor_version,
                    "enhancement_type": item.enhancement_type,
                    "content": item.content,
                    "content_hash": content_hash,
                },
            )
        outcomes.append(
            LineOutcome(line.line_number, line.status, reference_id, created, line.details)
        )

    if new_references:
        connection.execute(sa.insert(reference), new_references)
    identifier_rows = [new_identifiers[key] for key in sorted(new_identifiers)]
    inserted = insert_ignoring_conflicts(
        connection,
        external_identifier,
        identifier_rows,
        ["identifier_key"],
        returning=external_identifier.c.identifier_key,
    )
    if len(inserted) != len(identifier_rows):
        lost = sorted(set(new_identifiers) - set(inserted))
        raise IdentifierRaceError(
            f"{len(lost)} identifier(s) were created by a concurrent import "
            f"(first: {lost[0]}); the chunk will be retried"
        )
    enhancement_rows = [new_enhancements[key] for key in sorted(new_enhancements)]
    insert_ignoring_conflicts(
        connection, enhancement, enhancement_rows, ["reference_id", "content_hash"]
    )
    return outcomes
