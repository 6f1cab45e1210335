"""Read-side queries of the references domain."""

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from import_pipeline.dedup.normalise import Evidence, reference_evidence
from import_pipeline.domain.findings import Found, SharedIdentifier
from import_pipeline.store.bulk import among, index_probes
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


# References per look-up statement; keeps SQLite under its parameter limit.
_LOOKUP_BATCH = 5_000


def evidence_of_references(
    connection: sa.Connection, reference_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Evidence]:
    """The bibliographic evidence of each reference with a bibliographic enhancement or DOI.

    Two statements per 5,000 references: their bibliographic enhancements (through the
    (reference, content hash) key) and their DOIs (through the reference id index);
    `dedup.normalise.reference_evidence` picks and normalises.
    """
    contents: defaultdict[uuid.UUID, list[tuple[str, Mapping[str, Any]]]] = defaultdict(list)
    dois: defaultdict[uuid.UUID, list[str]] = defaultdict(list)
    ids = list(dict.fromkeys(reference_ids))
    with index_probes(connection):
        for start in range(0, len(ids), _LOOKUP_BATCH):
            _read_evidence_rows(connection, ids[start : start + _LOOKUP_BATCH], contents, dois)
    return {
        reference_id: reference_evidence(contents.get(reference_id, ()), dois.get(reference_id, ()))
        for reference_id in ids
        if reference_id in contents or reference_id in dois
    }


def _read_evidence_rows(
    connection: sa.Connection,
    part: Sequence[uuid.UUID],
    contents: defaultdict[uuid.UUID, list[tuple[str, Mapping[str, Any]]]],
    dois: defaultdict[uuid.UUID, list[str]],
) -> None:
    """Add the bibliographic enhancements and DOIs of the references `part` to the maps."""
    for reference_id, content_hash, content in connection.execute(
        sa.select(
            enhancement.c.reference_id, enhancement.c.content_hash, enhancement.c.content
        ).where(
            among(connection, enhancement.c.reference_id, part),
            enhancement.c.enhancement_type == "bibliographic",
        )
    ):
        contents[reference_id].append((content_hash, content))
    for reference_id, doi in connection.execute(
        sa.select(external_identifier.c.reference_id, external_identifier.c.identifier).where(
            among(connection, external_identifier.c.reference_id, part),
            external_identifier.c.identifier_type == "doi",
        )
    ):
        dois[reference_id].append(doi)


# Types whose canonical form a stored value can drift from in a way SQL can undo, by
# the case of that form (`domain.identifiers`): DOIs lower case, OpenAlex ("W123") and
# ERIC ("ED123", "EJ123") ids upper case. ProQuest ids are digits.
_LOWER_CASE = ["doi"]
_UPPER_CASE = ["open_alex", "eric"]


def _compared_form(table: sa.Table) -> sa.ColumnElement[str]:
    """An identifier as the canonicalisation (`domain.identifiers`) would make it equal.

    DOIs compare lower-cased, OpenAlex and ERIC ids upper-cased (their canonical case:
    a stored "w123" is "W123"), PubMed ids without leading zeros; URLs, ProQuest ids and
    `other` identifiers as stored, since their case (a URL's path, a free-form value) is
    significant or absent. A canonical value equals its compared form, so only drifted
    rows differ from it.
    """
    return sa.case(
        (table.c.identifier_type.in_(_LOWER_CASE), sa.func.lower(table.c.identifier)),
        (table.c.identifier_type.in_(_UPPER_CASE), sa.func.upper(table.c.identifier)),
        (table.c.identifier_type == "pm_id", sa.func.ltrim(table.c.identifier, "0")),
        else_=table.c.identifier,
    )


def shared_identifiers(
    connection: sa.Connection, reference_ids: sa.Select[tuple[uuid.UUID]], limit: int
) -> Found[SharedIdentifier]:
    """Identifiers that a reference `reference_ids` selects shares with another reference.

    The primary key `identifier_key` keeps one row per canonical key, so two references
    can share an identifier only through a row stored without its canonical form
    (`DOI 10.1000/ABC` beside `10.1000/abc`; `_compared_form`). Such drifted rows of the
    selected references are found first (their identifiers read through
    `ix_external_identifier_reference_id`, or one scan of the table when the planner
    prefers it; no sort of them all), then the rows holding their canonical keys, on any
    reference, through the primary key; only those few are grouped. Returns how many
    identifiers are shared and the first `limit` of them, by type and value.
    """
    table = external_identifier
    compared = _compared_form(table)
    of_record = reference_ids.subquery("of_record")
    drifted = (
        sa.select(
            table.c.reference_id,
            table.c.identifier_type,
            compared.label("compared"),
        )
        .join(of_record, of_record.c.reference_id == table.c.reference_id)
        .where(compared != table.c.identifier)
        .distinct()
        .cte("drifted")
    )
    canonical = table.alias("canonical")
    holders = sa.union_all(
        sa.select(drifted.c.reference_id, drifted.c.identifier_type, drifted.c.compared),
        sa.select(canonical.c.reference_id, drifted.c.identifier_type, drifted.c.compared).join(
            canonical,
            canonical.c.identifier_key == drifted.c.identifier_type + ":" + drifted.c.compared,
        ),
    ).subquery("holders")
    rows = connection.execute(
        sa.select(
            holders.c.identifier_type,
            holders.c.compared,
            sa.func.aggregate_strings(sa.cast(holders.c.reference_id, sa.String), ","),
            sa.func.count().over(),
        )
        .group_by(holders.c.identifier_type, holders.c.compared)
        .having(sa.func.count(sa.distinct(holders.c.reference_id)) > 1)
        .order_by(holders.c.identifier_type, holders.c.compared)
        .limit(limit)
    ).all()
    total = int(rows[0][3]) if rows else 0
    return Found(
        total,
        [
            SharedIdentifier(
                identifier_type,
                identifier,
                sorted({uuid.UUID(part) for part in str(ids).split(",")}),
            )
            for identifier_type, identifier, ids, _ in rows
        ],
    )
