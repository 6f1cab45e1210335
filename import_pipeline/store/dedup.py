"""The probable-duplicate tables on one connection: what `UnitOfWork.dedup` is on a database.

Blocking keys are exact strings (`dedup.blocking`) in an indexed table, so the same
candidate search runs on SQLite and PostgreSQL: one statement per chunk finds the
references stored under any of its probe keys, at most `per_key` of them per key (the
oldest ids: the first reference of a group is its canonical one), by a window over
the (key, reference id) primary key. Decisions are upserted in one statement whose
condition keeps a person's decision from an automatic one.
"""

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from psycopg.types.json import Jsonb

from import_pipeline.dedup.normalise import Evidence, evidence_from_json, evidence_to_json
from import_pipeline.dedup.screening import Screen
from import_pipeline.dedup.stored import ReferenceDecision
from import_pipeline.dedup.vocabulary import (
    PENDING,
    STORED_DETERMINATIONS,
    DecidedBy,
    DuplicateDetermination,
)
from import_pipeline.domain.models import utc_now
from import_pipeline.references.queries import evidence_of_references
from import_pipeline.store.bulk import (
    among,
    index_probes,
    insert_for,
    insert_ignoring_conflicts,
    insert_staged,
    psycopg_connection,
)
from import_pipeline.store.tables import (
    dedup_blocking_key,
    dedup_decision,
    dedup_evidence,
    reference,
)

# Values per statement; keeps SQLite under its bound-parameter limit.
_BATCH = 5_000
# Decisions per upsert (an executemany of rows of nine columns).
_UPSERT_BATCH = 500
# The evidence fields `dedup.screening.Screen` reads, in its order.
_SCREENED = ("title", "doi", "volume", "first_page")
_DUPLICATE = str(DuplicateDetermination.DUPLICATE)


_ROW = (
    "reference_id",
    "determination",
    "canonical_reference_id",
    "score",
    "evidence",
    "decided_by",
    "record_id",
    "created_at",
    "updated_at",
)
"""A decision row's columns, in the order `save_decisions` stages them and `_decision`
reads them."""
# `save_decisions` on PostgreSQL: the rows staged by COPY (`bulk.insert_staged`), then one
# statement with the SQLAlchemy upsert's rules (a person's decision is replaced only by
# a person's), in reference order.
_DECISION_STAGING = "dedup_decision_staging"
_DECISION_COLUMNS = (
    ("reference_id", "uuid"),
    ("determination", "varchar"),
    ("canonical_reference_id", "uuid"),
    ("score", "float8"),
    ("evidence", "jsonb"),
    ("decided_by", "varchar"),
    ("record_id", "uuid"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
)
_POSTGRES_DECISION_UPSERT = (
    f"INSERT INTO dedup_decision ({', '.join(_ROW)}) "
    f"SELECT {', '.join(_ROW)} FROM {_DECISION_STAGING} ORDER BY reference_id "
    "ON CONFLICT (reference_id) DO UPDATE SET determination = excluded.determination, "
    "canonical_reference_id = excluded.canonical_reference_id, score = excluded.score, "
    "evidence = excluded.evidence, decided_by = excluded.decided_by, "
    "record_id = coalesce(excluded.record_id, dedup_decision.record_id), "
    "updated_at = excluded.updated_at "
    f"WHERE dedup_decision.decided_by <> '{DecidedBy.PERSON}' "
    f"OR excluded.decided_by = '{DecidedBy.PERSON}'"
)


def _jsonb(document: Any) -> Jsonb:
    """A JSON document as a psycopg JSONB parameter, dumped by orjson."""
    return Jsonb(orjson.dumps(document).decode(), dumps=str)


def _batches(values: Sequence[Any], size: int = _BATCH) -> list[list[Any]]:
    ordered = list(dict.fromkeys(values))
    return [ordered[start : start + size] for start in range(0, len(ordered), size)]


_DECISION_SELECTED = ", ".join("evidence::text" if name == "evidence" else name for name in _ROW)
"""`_ROW` for a raw statement: the evidence as JSON text, for orjson."""


def _decision(row: Sequence[Any]) -> ReferenceDecision:
    """A stored decision from a row of `_ROW` (the evidence decoded, or text)."""
    (
        reference_id,
        determination,
        canonical,
        score,
        evidence,
        decided_by,
        record,
        created,
        updated,
    ) = row
    return ReferenceDecision(
        reference_id=reference_id,
        determination=determination,
        canonical_reference_id=canonical,
        score=float(score),
        evidence=orjson.loads(evidence) if isinstance(evidence, str) else dict(evidence),
        decided_by=DecidedBy(decided_by),
        record_id=record,
        created_at=created,
        updated_at=updated,
    )


class SqlDedupStore:
    """Blocking keys and decisions in the unit of work's transaction."""

    def __init__(self, connection: sa.Connection) -> None:
        """Work in `connection`'s transaction."""
        self._connection = connection
        self._postgres = connection.dialect.name == "postgresql"

    def _raw(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Run `statement` with binary (array) parameters on the psycopg connection."""
        with (
            index_probes(self._connection),
            psycopg_connection(self._connection).cursor() as cursor,
        ):
            cursor.execute(statement, params, binary=True)
            return cursor.fetchall() if cursor.description else []

    def evidence_of(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """Indexed evidence (one read of `dedup_evidence`), else from the enhancements."""
        found: dict[uuid.UUID, Evidence] = {}
        if self._postgres:  # as `decisions_of`: one statement, the JSON decoded by orjson
            rows = self._raw(
                "SELECT reference_id, evidence::text FROM dedup_evidence "
                "WHERE reference_id = ANY(%b)",
                [list(dict.fromkeys(reference_ids))],
            )
            found.update((ref, evidence_from_json(orjson.loads(data))) for ref, data in rows)
        else:
            for part in _batches(reference_ids):
                stored = self._connection.execute(
                    sa.select(dedup_evidence.c.reference_id, dedup_evidence.c.evidence).where(
                        among(self._connection, dedup_evidence.c.reference_id, part)
                    )
                )
                found.update((ref, evidence_from_json(data)) for ref, data in stored)
        missing = [ref for ref in dict.fromkeys(reference_ids) if ref not in found]
        if missing:
            found |= evidence_of_references(self._connection, missing)
        return found

    def content_evidence(self, reference_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Evidence]:
        """Evidence from the enhancements (`references.queries`)."""
        return evidence_of_references(self._connection, reference_ids)

    def keep_evidence(self, evidence: Mapping[uuid.UUID, Evidence]) -> None:
        """Insert the evidence in `dedup_evidence`, in id order; rows kept already stay."""
        ordered = sorted(evidence, key=str)
        if self._postgres:
            insert_staged(
                self._connection,
                "dedup_evidence_staging",
                (("reference_id", "uuid"), ("evidence", "jsonb")),
                ((ref, _jsonb(evidence_to_json(evidence[ref]))) for ref in ordered),
                then="INSERT INTO dedup_evidence (reference_id, evidence) SELECT reference_id, "
                "evidence FROM dedup_evidence_staging ORDER BY reference_id ON CONFLICT DO NOTHING",
            )
            return
        for start in range(0, len(ordered), _UPSERT_BATCH):
            insert_ignoring_conflicts(
                self._connection,
                dedup_evidence,
                [
                    {"reference_id": ref, "evidence": evidence_to_json(evidence[ref])}
                    for ref in ordered[start : start + _UPSERT_BATCH]
                ],
                ["reference_id"],
            )

    def known_references(self, reference_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `reference_ids` that are references of the repository."""
        found: set[uuid.UUID] = set()
        for part in _batches(reference_ids):
            rows = self._connection.execute(
                sa.select(reference.c.id).where(among(self._connection, reference.c.id, part))
            )
            found.update(rows.scalars())
        return found

    def add_blocking_keys(self, rows: Sequence[tuple[str, uuid.UUID]]) -> None:
        """Store (key, reference id) pairs in key order, skipping those stored already."""
        if self._postgres:  # ordered by the statement
            insert_staged(
                self._connection,
                "dedup_blocking_key_staging",
                (("key", "text"), ("reference_id", "uuid")),
                set(rows),
                then="INSERT INTO dedup_blocking_key (key, reference_id) SELECT key, reference_id "
                "FROM dedup_blocking_key_staging ORDER BY key, reference_id ON CONFLICT DO NOTHING",
            )
            return
        # Key order, then id order (`UUID.int` orders as str() does, without formatting).
        ordered = sorted(set(rows), key=lambda row: (row[0], row[1].int))
        for start in range(0, len(ordered), _BATCH):
            insert_ignoring_conflicts(
                self._connection,
                dedup_blocking_key,
                [{"key": key, "reference_id": ref} for key, ref in ordered[start : start + _BATCH]],
                ["key", "reference_id"],
            )

    def references_under(self, keys: Sequence[str], per_key: int) -> dict[str, list[uuid.UUID]]:
        """The references under each key, the `per_key` smallest ids of each, in id order."""
        found: dict[str, list[uuid.UUID]] = {}
        if self._postgres:
            # One index range per key, read only as far as `per_key` rows.
            rows = self._raw(
                "SELECT probe.key, found.reference_id FROM unnest(%b::text[]) AS probe(key) "
                "CROSS JOIN LATERAL (SELECT reference_id FROM dedup_blocking_key "
                "WHERE key = probe.key ORDER BY reference_id LIMIT %b) AS found "
                "ORDER BY probe.key, found.reference_id",
                [sorted(set(keys)), per_key],
            )
            for key, reference_id in rows:
                found.setdefault(key, []).append(reference_id)
            return found
        table = dedup_blocking_key
        for part in _batches(keys):
            ranked = (
                sa.select(
                    table.c.key,
                    table.c.reference_id,
                    sa.func.row_number()
                    .over(partition_by=table.c.key, order_by=table.c.reference_id)
                    .label("rank"),
                )
                .where(table.c.key.in_(part))
                .subquery()
            )
            ranked_rows = self._connection.execute(
                sa.select(ranked.c.key, ranked.c.reference_id)
                .where(ranked.c.rank <= per_key)
                .order_by(ranked.c.key, ranked.c.reference_id)
            )
            for key, reference_id in ranked_rows:
                found.setdefault(key, []).append(reference_id)
        return found

    def screens_of(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, tuple[Screen, uuid.UUID]]:
        """What the screening reads of each indexed reference, with its group's canonical id.

        Read from inside the stored evidence (`->>` on PostgreSQL's JSONB, `json_extract`
        on SQLite) without decoding the rest; the group from the stored decision.
        """
        found: dict[uuid.UUID, tuple[Screen, uuid.UUID]] = {}
        if self._postgres:
            rows: Any = self._raw(
                "SELECT e.reference_id, "
                + "".join(f"e.evidence->>'{name}', " for name in _SCREENED)
                + "d.determination, d.canonical_reference_id FROM dedup_evidence AS e "
                "LEFT JOIN dedup_decision AS d ON d.reference_id = e.reference_id "
                "WHERE e.reference_id = ANY(%b)",
                [list(dict.fromkeys(reference_ids))],
            )
        else:
            document = dedup_evidence.c.evidence
            rows = []
            for part in _batches(reference_ids):
                rows += self._connection.execute(
                    sa.select(
                        dedup_evidence.c.reference_id,
                        *(document[name].as_string() for name in _SCREENED),
                        dedup_decision.c.determination,
                        dedup_decision.c.canonical_reference_id,
                    )
                    .select_from(
                        dedup_evidence.outerjoin(
                            dedup_decision,
                            dedup_decision.c.reference_id == dedup_evidence.c.reference_id,
                        )
                    )
                    .where(among(self._connection, dedup_evidence.c.reference_id, part))
                ).all()
        for ref, title, doi, volume, first_page, determination, canonical in rows:
            group = canonical if determination == _DUPLICATE and canonical is not None else ref
            found[ref] = (Screen(title or "", doi, volume, first_page), group)
        return found

    def mark_pending(self, reference_ids: Sequence[uuid.UUID], record_id: uuid.UUID) -> None:
        """Insert `pending` decisions for undecided references; fill a missing record id."""
        now = utc_now()
        if self._postgres:
            ordered = sorted(set(reference_ids), key=str)
            insert_staged(
                self._connection,
                "dedup_pending_staging",
                (("reference_id", "uuid"),),
                ((ref,) for ref in ordered),
                then="INSERT INTO dedup_decision (reference_id, determination, score, evidence, "
                "decided_by, record_id, created_at, updated_at) "
                "SELECT reference_id, %s, 0, '{}'::jsonb, %s, %s, %s, %s "
                "FROM dedup_pending_staging ORDER BY reference_id "
                "ON CONFLICT (reference_id) DO UPDATE "
                "SET record_id = excluded.record_id WHERE dedup_decision.record_id IS NULL",
                params=[PENDING, str(DecidedBy.AUTOMATIC), record_id, now, now],
            )
            return
        for part in _batches(sorted(reference_ids, key=str)):
            insert_ignoring_conflicts(
                self._connection,
                dedup_decision,
                [
                    {
                        "reference_id": reference_id,
                        "determination": PENDING,
                        "canonical_reference_id": None,
                        "score": 0.0,
                        "evidence": {},
                        "decided_by": DecidedBy.AUTOMATIC,
                        "record_id": record_id,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for reference_id in part
                ],
                ["reference_id"],
            )
            self._connection.execute(
                sa.update(dedup_decision)
                .where(
                    among(self._connection, dedup_decision.c.reference_id, part),
                    dedup_decision.c.record_id.is_(None),
                )
                .values(record_id=record_id)
            )

    def record_references(
        self, record_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
    ) -> list[uuid.UUID]:
        """Up to `limit` of the record's decided or pending references after `after`."""
        query = sa.select(dedup_decision.c.reference_id).where(
            dedup_decision.c.record_id == record_id
        )
        if after is not None:
            query = query.where(dedup_decision.c.reference_id > after)
        rows = self._connection.execute(query.order_by(dedup_decision.c.reference_id).limit(limit))
        return list(rows.scalars())

    def decisions_of(
        self, reference_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, ReferenceDecision]:
        """The stored decision of each of `reference_ids` that has one."""
        if self._postgres:
            # One statement, rows fetched at once: SQLAlchemy's row-by-row fetch and
            # psycopg's JSON loader cost four times the look-up itself (2,000 decisions:
            # 33 ms against 8).
            rows = self._raw(
                f"SELECT {_DECISION_SELECTED} FROM dedup_decision WHERE reference_id = ANY(%b)",
                [list(dict.fromkeys(reference_ids))],
            )
            return {row[0]: _decision(row) for row in rows}
        found: dict[uuid.UUID, ReferenceDecision] = {}
        for part in _batches(reference_ids):
            rows_read = self._connection.execute(
                sa.select(*(dedup_decision.c[name] for name in _ROW)).where(
                    among(self._connection, dedup_decision.c.reference_id, part)
                )
            )
            found.update((row.reference_id, _decision(row)) for row in rows_read)
        return found

    def save_decisions(self, decisions: Sequence[ReferenceDecision]) -> int:
        """Upsert decisions in reference order; an automatic one never replaces a person's.

        The record id of a stored decision is kept when the new one names none (a
        person's decision on a reference an import created). Returns the rows written.
        """
        if not decisions:
            return 0
        now = utc_now()
        rows: list[dict[str, Any]] = [
            {
                "reference_id": decision.reference_id,
                "determination": decision.determination,
                "canonical_reference_id": decision.canonical_reference_id,
                "score": decision.score,
                "evidence": decision.evidence,
                "decided_by": str(decision.decided_by),
                "record_id": decision.record_id,
                "created_at": now,
                "updated_at": now,
            }
            for decision in sorted(decisions, key=lambda d: str(d.reference_id))
        ]
        for row in rows:
            if row["determination"] not in STORED_DETERMINATIONS:
                raise ValueError(f"not a stored determination: {row['determination']!r}")
        protected = self._decided_by_a_person([row["reference_id"] for row in rows])
        if self._postgres:
            insert_staged(
                self._connection,
                _DECISION_STAGING,
                _DECISION_COLUMNS,
                (
                    tuple(_jsonb(row[name]) if name == "evidence" else row[name] for name in _ROW)
                    for row in rows
                ),
                then=_POSTGRES_DECISION_UPSERT,
            )
        else:
            self._upsert_decisions(rows)
        return sum(
            1
            for row in rows
            if row["reference_id"] not in protected or row["decided_by"] == DecidedBy.PERSON
        )

    def _decided_by_a_person(self, reference_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        """Those of `reference_ids` whose stored decision is a person's."""
        found: set[uuid.UUID] = set()
        with index_probes(self._connection):
            for part in _batches(reference_ids):
                found.update(
                    self._connection.execute(
                        sa.select(dedup_decision.c.reference_id).where(
                            among(self._connection, dedup_decision.c.reference_id, part),
                            dedup_decision.c.decided_by == str(DecidedBy.PERSON),
                        )
                    ).scalars()
                )
        return found

    def _upsert_decisions(self, rows: list[dict[str, Any]]) -> None:
        """`save_decisions`' upsert through SQLAlchemy (SQLite)."""
        statement = insert_for(self._connection, dedup_decision)
        excluded = statement.excluded
        upsert = statement.on_conflict_do_update(
            index_elements=["reference_id"],
            set_={
                "determination": excluded.determination,
                "canonical_reference_id": excluded.canonical_reference_id,
                "score": excluded.score,
                "evidence": excluded.evidence,
                "decided_by": excluded.decided_by,
                "record_id": sa.func.coalesce(excluded.record_id, dedup_decision.c.record_id),
                "updated_at": excluded.updated_at,
            },
            where=sa.or_(
                dedup_decision.c.decided_by != str(DecidedBy.PERSON),
                excluded.decided_by == str(DecidedBy.PERSON),
            ),
        )
        for start in range(0, len(rows), _UPSERT_BATCH):
            self._connection.execute(upsert, rows[start : start + _UPSERT_BATCH])

    def decision_counts(self, record_id: uuid.UUID) -> dict[str, int]:
        """The record's decisions by determination: pending, canonical, duplicate, unresolved."""
        counts = dict.fromkeys(sorted(STORED_DETERMINATIONS), 0)
        rows = self._connection.execute(
            sa.select(dedup_decision.c.determination, sa.func.count())
            .where(dedup_decision.c.record_id == record_id)
            .group_by(dedup_decision.c.determination)
        )
        for determination, count in rows:
            counts[determination] = int(count)
        return counts
