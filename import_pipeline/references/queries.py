"""Read-side queries of the references domain."""

import uuid

import sqlalchemy as sa

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
