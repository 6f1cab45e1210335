"""The deduplication step: a record's new references decided against the whole repository.

Over the references the record created (`import_result.reference_created`), in chunks
of one unit of work:

1. *Pending marks*: in source order, each new reference gets a `pending` decision naming
   the record, unless it has a decision already; the record's references are then read
   back in reference-id order (ids are time-ordered: the order they were created in).
2. *Index and decide*, a chunk at a time in that order. A chunk is *indexed*: its
   evidence is normalised from its enhancements and kept, its blocking keys
   (`dedup.blocking.index_keys`) stored; the writes run on a second thread while the
   previous chunk is *decided*: each reference against the references stored under its
   probe keys that are older than it, each taken with the canonical reference of its
   group, all of them screened at once (`dedup.screening`), those worth it scored
   (`dedup.decide_among`, the same answer as `dedup.decide` over all). A chunk is
   decided only once its own index is written, so every reference older than the one
   decided is indexed by then; newer ones may be or not, and are never candidates.
   A decision depends only on older references and their decisions, which are made
   first, so re-running the step decides the same and writes nothing (a decision is
   saved only when it changes). A person's decision and the import's
   contested-identifier decision are kept as they are. What a run reads (keys,
   candidates' screens, groups, evidence) is kept across its chunks (`_Seen`), bounded.

A person's decision is recorded by `record_person_decision` (the CLI's `decide`, the
API's decision route); it is never replaced by an automatic one (the store's upsert
refuses it too).
"""

import bisect
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson

from import_pipeline.dedup.blocking import index_keys, probe_keys
from import_pipeline.dedup.decisions import Candidate, decide_among, to_score
from import_pipeline.dedup.normalise import Evidence, evidence_from_content
from import_pipeline.dedup.screening import KeyScreens, Screen
from import_pipeline.dedup.stored import ReferenceDecision
from import_pipeline.dedup.vocabulary import (
    CONTESTED_IDENTIFIER,
    DecidedBy,
    DuplicateDetermination,
)
from import_pipeline.domain.errors import (
    InvalidDecisionError,
    UnknownRecordError,
    UnknownReferenceError,
)
from import_pipeline.domain.outcomes import LineOutcome
from import_pipeline.services.bulk_collection import bulk_collection
from import_pipeline.services.unit_of_work import DedupStore, UnitOfWorkFactory

CHUNK_SIZE = 2_000
"""References per unit of work of each pass."""
CANDIDATES_PER_KEY = 50
"""Most references taken from one blocking key (the oldest): a hot key ("2020, Wang")
stays bounded, and a group's canonical reference is its oldest member."""
SEEN_AT_MOST = 500_000
"""Entries of each map a run of the step keeps between chunks (`_Seen`): some hundred
megabytes at most, whatever the repository's size."""
_NO_EVIDENCE = evidence_from_content({})


@dataclass
class DeduplicationReport:
    """What one run of the step did over a record."""

    record_id: uuid.UUID
    references: int = 0
    """New references of the record seen by the decide pass."""
    changed: int = 0
    """Decisions written (new or different); 0 on a re-run."""
    kept: int = 0
    """Decisions left as they were: a person's, or a contested identifier's."""
    seconds: float = 0.0
    """The whole step's time."""
    index_seconds: float = 0.0
    """Of `seconds`, the index's share that the decisions did not hide: the pending
    marks, reading and normalising each chunk's evidence, and waiting for its writes."""
    counts: dict[str, int] = field(default_factory=dict)
    """The record's decisions by determination after the step (pending included)."""

    @property
    def references_per_second(self) -> float:
        """The decide pass's and index pass's throughput over the record's new references."""
        return self.references / self.seconds if self.seconds else 0.0


def contested_decisions(
    outcomes: Sequence[LineOutcome], record_id: uuid.UUID
) -> list[ReferenceDecision]:
    """The `unresolved` decisions of references created apart from a contested identifier.

    A line merged into its own earlier reference (a re-import) decides nothing anew.
    """
    return [
        ReferenceDecision(
            reference_id=outcome.reference_id,
            determination=DuplicateDetermination.UNRESOLVED,
            evidence={
                "rule": CONTESTED_IDENTIFIER,
                "identifiers": list(outcome.contested.identifier_keys),
                "held_by": str(outcome.contested.held_by),
            },
            record_id=record_id,
        )
        for outcome in outcomes
        if outcome.contested is not None
        and outcome.reference_id is not None
        and outcome.reference_created
    ]


@dataclass(frozen=True)
class _Indexed:
    """A chunk of the record's references (ascending ids) whose index is being written."""

    ids: list[uuid.UUID]
    keys: list[tuple[str, uuid.UUID]]
    written: Future[None]


@bulk_collection()
def deduplicate_record(
    units: UnitOfWorkFactory,
    record_id: uuid.UUID,
    *,
    chunk_size: int = CHUNK_SIZE,
    per_key: int = CANDIDATES_PER_KEY,
    on_progress: Callable[[int], None] | None = None,
) -> DeduplicationReport:
    """Decide the record's new references against the repository (see the module).

    Idempotent; raises `UnknownRecordError` for an unknown record. `on_progress` is
    called with the references decided so far after each chunk. The garbage collector
    keeps the pace of bulk work meanwhile (`bulk_collection`).

    Each chunk is indexed (read and normalised here, written on a second thread) while
    the one before it is decided, so PostgreSQL's share of the index (the rows'
    indexes and foreign keys) overlaps this process's decisions. The writes of two
    chunks are pending at most (the one to be decided next, and the one after it); an
    error of theirs is raised here, and each write is idempotent (rows kept already
    stay), so a run that stops half way is finished by the next.
    """
    started = time.perf_counter()
    with units() as uow:
        if uow.imports.get_record(record_id) is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        batch_ids = [batch.id for batch in uow.imports.list_batches(record_id)]
    _mark_pending(units, record_id, batch_ids, chunk_size)
    report = DeduplicationReport(record_id)
    seen: _Seen | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="dedup-index") as writer:
        indexed = _index_next(units, writer, record_id, None, chunk_size)
        # The index's share: the pending marks, then reading and normalising each
        # chunk's evidence and waiting for its writes (which overlap the decisions).
        report.index_seconds = time.perf_counter() - started
        while indexed is not None:
            indexing = time.perf_counter()
            following = _index_next(units, writer, record_id, indexed.ids[-1], chunk_size)
            indexed.written.result()
            report.index_seconds += time.perf_counter() - indexing
            with units() as uow:
                seen = seen or _Seen(uow.dedup)
                seen.start_chunk(uow.dedup)
                seen.forget_keys(indexed.keys, per_key)
                changed, kept = _decide_chunk(seen, indexed.ids, per_key)
                uow.commit()
            report.references += len(indexed.ids)
            report.changed += changed
            report.kept += kept
            if on_progress is not None:
                on_progress(report.references)
            indexed = following
    with units() as uow:
        report.counts = uow.dedup.decision_counts(record_id)
    report.seconds = time.perf_counter() - started
    return report


def _mark_pending(
    units: UnitOfWorkFactory, record_id: uuid.UUID, batch_ids: Sequence[uuid.UUID], chunk_size: int
) -> None:
    """Give each new reference of the record a `pending` decision naming it (see the store).

    Batch by batch in line order, a chunk of references per unit of work; a reference
    with a decision keeps it.
    """
    for batch_id in batch_ids:
        after_line = 0
        while True:
            with units() as uow:
                rows = uow.imports.created_references(batch_id, after_line, chunk_size)
                if not rows:
                    break
                uow.dedup.mark_pending([reference_id for _, reference_id in rows], record_id)
                uow.commit()
            after_line = rows[-1][0]


def _index_next(
    units: UnitOfWorkFactory,
    writer: ThreadPoolExecutor,
    record_id: uuid.UUID,
    after: uuid.UUID | None,
    chunk_size: int,
) -> _Indexed | None:
    """Read the record's next chunk of references after `after` and start writing its index.

    Returns None when there is none. The writer has one thread: chunks are written in
    the order they were read.
    """
    with units() as uow:
        ids = uow.dedup.record_references(record_id, after=after, limit=chunk_size)
        evidence = uow.dedup.content_evidence(ids) if ids else {}
    keys = [(key, ref) for ref, known in evidence.items() for key in index_keys(known)]
    writing = writer.submit(_keep_index, units, evidence, keys) if ids else None
    return _Indexed(ids, keys, writing) if writing is not None else None


def _keep_index(
    units: UnitOfWorkFactory,
    evidence: Mapping[uuid.UUID, Evidence],
    keys: Sequence[tuple[str, uuid.UUID]],
) -> None:
    """Write one chunk's index (evidence, blocking keys) in a unit of work of its own."""
    with units() as uow:
        uow.dedup.keep_evidence(evidence)
        uow.dedup.add_blocking_keys(keys)
        uow.commit()


def _json_ready(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """`evidence` as it reads back from a JSON column (tuples as lists), to compare."""
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(evidence))
    return loaded


class _Seen:
    """What one run of the step has read, kept across its chunks to be read once.

    The references under a key, their screens (arranged per key, `KeyScreens`) and the
    candidates' evidence stay as read, except a key under which a chunk indexed since
    may have added a reference (`forget_keys`). Groups change only by the step's own
    decisions, which it records here as it makes them (`set_group`). Each map is
    emptied when it passes `SEEN_AT_MOST` entries, at the start of a chunk (everything
    is in the database by then), so memory stays bounded on any repository. Reference
    ids are kept as their 128-bit integers (`UUID.int`, which orders them as the
    database does): the step compares and hashes millions of them, and `UUID` does that
    in Python.
    """

    def __init__(self, dedup: DedupStore) -> None:
        """Nothing read yet; `dedup` is rebound to each chunk's unit of work."""
        self.dedup = dedup
        self.keyed: dict[str, KeyScreens] = {}
        self.screens: dict[int, Screen] = {}
        self.groups: dict[int, int] = {}
        self.pointed: set[int] = set()
        """Canonical references with another member in `groups` (a superset of them)."""
        self.evidence: dict[int, Evidence] = {}

    def start_chunk(self, dedup: DedupStore) -> None:
        """Read through `dedup` from now on; forget what has grown past its bound.

        The arranged keys, screens and groups go together (a key's references need
        their groups), the evidence on its own.
        """
        self.dedup = dedup
        if any(len(seen) > SEEN_AT_MOST for seen in (self.keyed, self.screens, self.groups)):
            for seen in (self.keyed, self.screens, self.groups, self.pointed):
                seen.clear()
        if len(self.evidence) > SEEN_AT_MOST:
            self.evidence.clear()

    def forget_keys(self, indexed: Iterable[tuple[str, uuid.UUID]], per_key: int) -> None:
        """Forget each key read before one of these (key, reference) pairs was indexed.

        A key read while its chunk was being written may hold the chunk's reference or
        not; read again, it holds it. A key kept full (`per_key` references, all older
        than the new one) stays: the new reference is not among its oldest.
        """
        for key, reference_id in indexed:
            under = self.keyed.get(key)
            if under is not None and (len(under.ids) < per_key or under.ids[-1] > reference_id.int):
                del self.keyed[key]

    def set_group(self, reference: int, group: int) -> None:
        """`reference` is in the group of canonical reference `group` (itself when canonical)."""
        self.groups[reference] = group
        if group != reference:
            self.pointed.add(group)

    def read_keys(self, keys: set[str], per_key: int) -> None:
        """Arrange the screens under the keys not read yet (none under a key: empty).

        A reference under a key whose evidence is gone has no screen, and is left out.
        """
        missing = sorted(keys - self.keyed.keys())
        if not missing:
            return
        found = self.dedup.references_under(missing, per_key)
        under = {key: [ref.int for ref in found.get(key, ())] for key in missing}
        self._read_screens({ref for refs in under.values() for ref in refs})
        for key, refs in under.items():
            kept = [ref for ref in refs if ref in self.screens]
            self.keyed[key] = KeyScreens.of(kept, [self.screens[ref] for ref in kept])

    def _read_screens(self, references: set[int]) -> None:
        """Read the screens and groups of the references not read yet."""
        missing = [uuid.UUID(int=ref) for ref in sorted(references - self.screens.keys())]
        for reference_id, (screen, group) in self.dedup.screens_of(missing).items():
            self.screens[reference_id.int] = screen
            if reference_id.int not in self.groups:
                self.set_group(reference_id.int, group.int)

    def evidence_of(self, references: Iterable[int]) -> dict[int, Evidence]:
        """The evidence of those of `references` with any, read once."""
        references = list(references)
        missing = [uuid.UUID(int=ref) for ref in references if ref not in self.evidence]
        if missing:
            found = self.dedup.evidence_of(missing)
            self.evidence.update((ref.int, evidence) for ref, evidence in found.items())
        return {ref: self.evidence[ref] for ref in references if ref in self.evidence}


@dataclass
class _Screened:
    """One new reference's candidates: the older ids under each of its keys, and the worthy."""

    older: list[list[int]] = field(default_factory=list)
    worthy: set[int] = field(default_factory=set)

    def considered(self) -> int:
        """How many candidates the screening looked at (each once)."""
        if len(self.older) == 1:
            return len(self.older[0])
        return len(set().union(*self.older))

    def candidates(self) -> list[int]:
        """The candidates, once each, ascending."""
        if len(self.older) == 1:
            return self.older[0]
        return sorted(set().union(*self.older))


def _screen(seen: _Seen, ref: int, new: Evidence, keys: frozenset[str]) -> _Screened:
    """`new`'s candidates under `keys`: those older than `ref`, and which are worth scoring."""
    screened = _Screened()
    for key in keys:
        under = seen.keyed[key]
        before = bisect.bisect_left(under.ids, ref)
        if before:
            screened.older.append(under.ids[:before])
            screened.worthy.update(under.worthy(new, before))
    return screened


def _decide_chunk(seen: _Seen, chunk: Sequence[uuid.UUID], per_key: int) -> tuple[int, int]:
    """Decide a chunk of references (ascending ids); returns (changed, kept).

    Each reference is screened against its keys (`dedup.screening`); only the candidates
    worth scoring, and the other members of their groups, are read in full and decided
    on (`dedup.decide_among`), which answers what `dedup.decide` answers over all of them.
    Most references have no candidate worth scoring: they are canonical, with the count
    of candidates considered, and their candidates' groups are never looked at.
    """
    dedup = seen.dedup
    stored = dedup.decisions_of(chunk)
    evidence = seen.evidence_of(ref.int for ref in chunk)
    probes = {ref: probe_keys(known) for ref, known in evidence.items()}
    seen.read_keys({key for keys in probes.values() for key in keys}, per_key)
    screened = {ref: _screen(seen, ref, evidence[ref], keys) for ref, keys in probes.items()}
    seen.evidence_of(sorted({other for found in screened.values() for other in found.worthy}))
    to_save: list[ReferenceDecision] = []
    kept = 0
    for reference_id in chunk:
        ref = reference_id.int
        current = stored.get(reference_id)
        if current is not None and current.kept_by_the_step:
            kept += 1
            seen.set_group(ref, current.group.int)
            continue
        found = screened.get(ref) or _Screened()
        if found.worthy or ref in seen.pointed:
            candidates, considered = _to_decide_on(seen, ref, found)
        else:
            candidates, considered = [], found.considered()
        outcome = decide_among(evidence.get(ref, _NO_EVIDENCE), candidates, considered=considered)
        decided = ReferenceDecision(
            reference_id=reference_id,
            determination=str(outcome.determination),
            canonical_reference_id=outcome.duplicate_of,
            score=outcome.score,
            evidence=_json_ready(outcome.evidence),
            decided_by=DecidedBy.AUTOMATIC,
            record_id=current.record_id if current else None,
        )
        seen.set_group(ref, decided.group.int)
        if current is None or not current.same_outcome(decided):
            to_save.append(decided)
    return dedup.save_decisions(to_save), kept


def _to_decide_on(seen: _Seen, ref: int, found: _Screened) -> tuple[list[Candidate], int]:
    """The candidates `decide_among` scores for `ref` (`to_score`), and how many were considered.

    A candidate a person made a duplicate of `ref` (an older reference in `ref`'s group) is
    not one of its candidates.
    """
    others = found.candidates()
    groups = [seen.groups[other] for other in others]
    if ref in groups:
        keep = [p for p, group in enumerate(groups) if group != ref]
        others, groups = [others[p] for p in keep], [groups[p] for p in keep]
    worth = [other in found.worthy for other in others]
    chosen = to_score(groups, worth) if True in worth else []
    full = seen.evidence_of(others[p] for p in chosen)
    candidates = [
        Candidate(uuid.UUID(int=others[p]), uuid.UUID(int=groups[p]), full[others[p]])
        for p in chosen
        if others[p] in full
    ]
    return candidates, len(others)


def _group(decisions: Mapping[uuid.UUID, ReferenceDecision], reference_id: uuid.UUID) -> uuid.UUID:
    """The canonical reference of `reference_id`'s group (itself when undecided)."""
    decision = decisions.get(reference_id)
    return decision.group if decision is not None else reference_id


def record_person_decision(
    units: UnitOfWorkFactory, reference_id: uuid.UUID, *, duplicate_of: uuid.UUID | None
) -> ReferenceDecision:
    """A person's decision: `reference_id` is canonical, or a duplicate of `duplicate_of`.

    A duplicate points at the canonical reference of `duplicate_of`'s group (itself
    when it is canonical), so that a duplicate never points at a duplicate. Raises
    `UnknownReferenceError` for an unknown id and `InvalidDecisionError` when the
    duplicate would point back at `reference_id`. No automatic decision replaces it.
    """
    with units() as uow:
        named = [reference_id] if duplicate_of is None else [reference_id, duplicate_of]
        unknown = [ref for ref in named if ref not in uow.dedup.known_references(named)]
        if unknown:
            raise UnknownReferenceError(f"no reference with id {unknown[0]}")
        canonical = None
        if duplicate_of is not None:
            canonical = _group(uow.dedup.decisions_of([duplicate_of]), duplicate_of)
            if canonical == reference_id:
                raise InvalidDecisionError(
                    f"reference {reference_id} cannot be a duplicate of {duplicate_of}: "
                    f"that would make it a duplicate of itself"
                )
        decision = ReferenceDecision(
            reference_id=reference_id,
            determination=DuplicateDetermination.DUPLICATE
            if canonical is not None
            else DuplicateDetermination.CANONICAL,
            canonical_reference_id=canonical,
            score=1.0,
            evidence={"rule": "person", "named": str(duplicate_of) if duplicate_of else None},
            decided_by=DecidedBy.PERSON,
        )
        uow.dedup.save_decisions([decision])
        saved = uow.dedup.decisions_of([reference_id])[reference_id]
        uow.commit()
        return saved


def reference_decision(units: UnitOfWorkFactory, reference_id: uuid.UUID) -> ReferenceDecision:
    """The stored decision of a reference (`pending` when it has none yet).

    Raises `UnknownReferenceError` for an unknown id.
    """
    with units() as uow:
        if not uow.dedup.known_references([reference_id]):
            raise UnknownReferenceError(f"no reference with id {reference_id}")
        found = uow.dedup.decisions_of([reference_id])
    return found.get(reference_id) or ReferenceDecision(reference_id, "pending")
