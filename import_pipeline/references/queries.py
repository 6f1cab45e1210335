"""Read-side queries of the references domain."""

import uuid
from typing import NamedTuple

import sqlalchemy as sa

from import_pipeline.store.result_checks import Found
from import_pipeline.store.tables import enhancement, external_identifier, reference


def count_references(connection: sa.Connection) -> int:
    """The number of references stored."""
    return int(connection.execute(sa.select(sa.func.count()).select_from(reference)).scalar_one())


def identifiers_of(connection: sa.Connection, reference_id: uuid.UUID) -> list[str]:
    """The canonical identifier keys of a reference, sorted."""
    rows = connection.execute(
        sa.select(external_identifier.c.identifier_key)
        .where(external_identifier.c.reference_id == reference_id)
        .order_by(external_identifier.c.identifier_key)
    )
    return list(rows.scalars())


def owner_of(connection: sa.Connection, identifier_key: str) -> uuid.UUID | None:
    """The reference that owns a canonical identifier key, if any."""
    return connection.execute(
        sa.select(external_identifier.c.reference_id).where(
            external_identifier.c.identifier_key == identifier_key
        )
    ).scalar_one_or_none()


def count_enhancements(connection: sa.Connection, reference_id: uuid.UUID) -> int:
    """How many enhancements a reference has."""
    return int(
        connection.execute(
            sa.select(sa.func.count()).where(enhancement.c.reference_id == reference_id)
        ).scalar_one()
    )


class SharedIdentifier(NamedTuple):
    """An identifier that two or more references hold, compared in canonical form."""

    identifier_type: str
    other_identifier_name: str | None
    identifier: str
    reference_ids: list[uuid.UUID]


def _compared_form(table: sa.Table) -> sa.ColumnElement[str]:
    """An identifier as the canonicalisation (`domain.identifiers`) would make it equal.

    DOIs and the code-like types (OpenAlex, ERIC, ProQuest) compare case-insensitively,
    PubMed ids without leading zeros; URLs and `other` identifiers as stored, since their
    case (a URL's path, a free-form value) is significant.
    """
    return sa.case(
        (table.c.identifier_type.in_(["url", "other"]), table.c.identifier),
        (table.c.identifier_type == "pm_id", sa.func.ltrim(table.c.identifier, "0")),
        else_=sa.func.lower(table.c.identifier),
    )


def shared_identifiers(
    connection: sa.Connection, reference_ids: sa.Select[tuple[uuid.UUID]], limit: int
) -> Found[SharedIdentifier]:
    """Identifiers held by two or more of the references `reference_ids` selects.

    The primary key `identifier_key` keeps one row per stored key, so what this finds is
    two keys that differ only where canonical forms cannot (`_compared_form`): an
    identifier stored without its canonicalisation. Reads the references' identifiers
    through `ix_external_identifier_reference_id` and groups them; returns how many
    identifiers are shared and the first `limit` of them, by type and value.
    """
    table = external_identifier
    compared = _compared_form(table).label("compared")
    name = sa.func.coalesce(table.c.other_identifier_name, "").label("name")
    held = (
        sa.select(table.c.reference_id, table.c.identifier_type, name, compared)
        .where(table.c.reference_id.in_(reference_ids.scalar_subquery()))
        .subquery("held")
    )
    holders = sa.func.count(sa.distinct(held.c.reference_id))
    rows = connection.execute(
        sa.select(
            held.c.identifier_type,
            held.c.name,
            held.c.compared,
            sa.func.aggregate_strings(sa.cast(held.c.reference_id, sa.String), ","),
            sa.func.count().over(),
        )
        .group_by(held.c.identifier_type, held.c.name, held.c.compared)
        .having(holders > 1)
        .order_by(held.c.identifier_type, held.c.name, held.c.compared)
        .limit(limit)
    ).all()
    total = int(rows[0][4]) if rows else 0
    return Found(
        total,
        [
            SharedIdentifier(
                identifier_type,
                name or None,
                identifier,
                sorted({uuid.UUID(part) for part in str(ids).split(",")}),
            )
            for identifier_type, name, identifier, ids, _ in rows
        ],
    )
