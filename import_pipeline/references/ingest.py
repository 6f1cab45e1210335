"""Set-based ingest of a chunk of parsed lines into the reference tables.

One call handles a chunk in the caller's transaction with a fixed number of
statements, whatever the chunk's size: one identifier look-up, then bulk inserts of
new references, identifiers (sorted, so concurrent writers take locks in one order)
and enhancements. Exact duplicates are merged by canonical identifier (spec
section 3); a line whose identifiers belong to two or more references writes nothing
and fails with the ids involved.

Shared identifiers with conflicting evidence (spec section 3): a line that would merge
into one existing reference through an identifier, while its DOI and title contradict
that reference's (`dedup.decisions.contradicts_shared_identifier`), is not merged. It
becomes a reference of its own without the contested identifiers (which stay where
they were), `partially_failed` with details naming them and the other reference; its
outcome carries `contested`, from which the caller records the decision `unresolved`.
Only lines with a DOI that no reference holds yet can be contested, so the evidence of
the references they match is read once per chunk, and only when there are such lines.

Concurrency: the look-up runs before the inserts, so a concurrent transaction may
insert one of our "new" identifiers in between. The identifier insert skips
conflicting keys and reports which it inserted; any shortfall raises
`IdentifierRaceError`, a transient error: the caller rolls back and tries the chunk
again, and the retry sees the other transaction's references and merges into them.
"""

import hashlib
import uuid
from collections.abc import Sequence

import orjson

from import_pipeline.dedup.decisions import contradicts_shared_identifier
from import_pipeline.dedup.normalise import Evidence, evidence_of_line
from import_pipeline.domain.enhancements import Enhancement
from import_pipeline.domain.models import utc_now, uuid7_stream
from import_pipeline.domain.outcomes import ContestedIdentifier, LineOutcome
from import_pipeline.domain.parsing import ParsedLine
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.references.writers import EnhancementRow, IdentifierRow, ReferenceWriter
from import_pipeline.store.errors import TransientDatabaseError


class IdentifierRaceError(TransientDatabaseError):
    """A concurrent transaction inserted identifiers this chunk meant to create."""


def serialise_enhancement(item: Enhancement) -> tuple[str, str]:
    """(content as JSON text, identity hash over source, type and content).

    Keys are sorted, so equal contents give equal hashes; the same text is stored.
    """
    content = orjson.dumps(item.content, option=orjson.OPT_SORT_KEYS)
    identity = hashlib.sha256(
        item.source.encode() + b"\x1f" + item.enhancement_type.encode() + b"\x1f" + content
    )
    return content.decode(), identity.hexdigest()


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


def _doi_key(line: ParsedLine) -> str | None:
    return next((i.key for i in line.identifiers if i.identifier_type == "doi"), None)


def _contest_target(line: ParsedLine, owners: dict[str, uuid.UUID]) -> uuid.UUID | None:
    """The one reference the line would merge into through identifiers other than its DOI.

    Only such a reference can be contested: the line has a DOI, and that DOI is not the
    reference's (it belongs to nobody yet, or to another reference: the line's own one,
    on a re-import of a line kept apart before).
    """
    doi_key = _doi_key(line)
    if doi_key is None:
        return None
    doi_owner = owners.get(doi_key)
    others = {
        owners[i.key] for i in line.identifiers if i.key in owners and owners[i.key] != doi_owner
    }
    return others.pop() if len(others) == 1 else None


def _contested_details(line: ParsedLine, contested: ContestedIdentifier) -> str:
    reason = (
        f"imported as a reference of its own without the contested identifier(s) "
        f"{', '.join(contested.identifier_keys)} (they stay with reference "
        f"{contested.held_by}, whose DOI and title contradict this line's)"
    )
    if line.dropped:
        return f"{line.details}; {reason}"
    return f"Entry {line.line_number}: {reason}"


def _outcome(
    line: ParsedLine,
    reference_id: uuid.UUID,
    created: bool,
    contested: ContestedIdentifier | None,
) -> LineOutcome:
    """A written line's outcome: `partially_failed` when an identifier was contested."""
    if contested is None:
        return LineOutcome(line.line_number, line.status, reference_id, created, line.details)
    return LineOutcome(
        line.line_number,
        ImportResultStatus.PARTIALLY_FAILED,
        reference_id,
        created,
        _contested_details(line, contested),
        contested,
    )


class _ContestGuard:
    """Decides whether a line's merge into one reference is contested (spec section 3).

    The evidence of stored references is read once, before the chunk's lines are
    matched; that of references created earlier in the chunk is the evidence of the
    line that created them, computed only when a later line needs it.
    """

    def __init__(
        self, writer: ReferenceWriter, lines: Sequence[ParsedLine], owners: dict[str, uuid.UUID]
    ) -> None:
        suspects = {_contest_target(line, owners) for line in lines}
        stored = sorted((ref for ref in suspects if ref is not None), key=str)
        self._stored = writer.evidence_of(stored) if stored else {}
        self._created_by: dict[uuid.UUID, ParsedLine] = {}
        self._evidence: dict[uuid.UUID, Evidence] = {}

    def created(self, reference_id: uuid.UUID, line: ParsedLine) -> None:
        """Remember the line that created `reference_id` in this chunk."""
        self._created_by[reference_id] = line

    def contested(
        self, line: ParsedLine, owners: dict[str, uuid.UUID]
    ) -> ContestedIdentifier | None:
        """The identifiers of `line` that are contested (`_contest_target`), if any."""
        reference_id = _contest_target(line, owners)
        if reference_id is None:
            return None
        existing = self._stored.get(reference_id)
        if existing is None and reference_id in self._created_by:
            if reference_id not in self._evidence:
                self._evidence[reference_id] = evidence_of_line(self._created_by[reference_id])
            existing = self._evidence[reference_id]
        if existing is None or not contradicts_shared_identifier(evidence_of_line(line), existing):
            return None
        shared = (i.key for i in line.identifiers if owners.get(i.key) == reference_id)
        return ContestedIdentifier(tuple(sorted(shared)), reference_id)


def ingest_chunk(writer: ReferenceWriter, lines: Sequence[ParsedLine]) -> list[LineOutcome]:
    """Create or merge the references of `lines` (all parsed, none failed) through `writer`.

    The writer works in its caller's transaction (`writers.writer_for`; the tests' fake
    keeps the tables in memory). Returns one outcome per line, in the order given.
    Raises `IdentifierRaceError` when a concurrent transaction won an identifier; the
    caller must roll back and retry.
    """
    owners = writer.lookup_owners(sorted({i.key for line in lines for i in line.identifiers}))
    matched_references = set(owners.values())
    guard = _ContestGuard(writer, lines, owners)
    now = utc_now()
    fresh_ids = uuid7_stream()  # made a block at a time: see `uuid7_many`
    outcomes: list[LineOutcome] = []
    new_references: list[tuple[uuid.UUID, str, object]] = []
    new_identifiers: dict[str, IdentifierRow] = {}
    enhancements: dict[tuple[uuid.UUID, str], EnhancementRow] = {}
    for line in lines:
        matched = {owners[i.key] for i in line.identifiers if i.key in owners}
        contested = guard.contested(line, owners)
        if contested is not None:
            matched.discard(contested.held_by)
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
        reference_id = next(fresh_ids) if created else matched.pop()
        if created:
            new_references.append((reference_id, line.visibility, now))
            guard.created(reference_id, line)
        for identifier in line.identifiers:
            if identifier.key not in owners:
                owners[identifier.key] = reference_id
                new_identifiers[identifier.key] = IdentifierRow(
                    identifier.key,
                    reference_id,
                    identifier.identifier_type,
                    identifier.other_identifier_name,
                    identifier.identifier,
                )
        for item in line.enhancements:
            content_json, content_hash = serialise_enhancement(item)
            if (reference_id, content_hash) not in enhancements:
                enhancements[reference_id, content_hash] = EnhancementRow(
                    reference_id,
                    item.source,
                    item.visibility,
                    item.processor_version,
                    item.enhancement_type,
                    content_json,
                    content_hash,
                )
        outcomes.append(_outcome(line, reference_id, created, contested))

    writer.insert_references(new_references)
    identifier_rows = [new_identifiers[key] for key in sorted(new_identifiers)]
    inserted = writer.insert_identifiers(identifier_rows)
    if inserted != len(identifier_rows):
        raise IdentifierRaceError(
            f"{len(identifier_rows) - inserted} identifier(s) were created by a concurrent "
            "import meanwhile"
        )
    # Enhancements of references that existed before this chunk may be stored already;
    # those are inserted in key order (concurrent merges lock in one order), the others
    # belong to references created here, which no other transaction can see yet.
    stored = writer.existing_enhancements(list(matched_references))
    for_new: list[EnhancementRow] = []
    for_existing: list[EnhancementRow] = []
    for key, row in enhancements.items():
        if key[0] not in matched_references:
            for_new.append(row)
        elif key not in stored:
            for_existing.append(row)
    for_existing.sort(key=lambda row: (str(row.reference_id), row.content_hash))
    writer.insert_enhancements(for_new, new_references=True)
    writer.insert_enhancements(for_existing, new_references=False)
    return outcomes
