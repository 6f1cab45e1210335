"""The deduplication step: a record's new references decided against the whole repository.

Two passes over the references the record created (`import_result.reference_created`),
each in chunks of one unit of work:

1. *Index*: in source order, each new reference's evidence is normalised from its
   enhancements and kept, its blocking keys (`dedup.blocking.index_keys`) are stored,
   and it gets a `pending` decision naming the record, unless it has a decision already.
   A chunk's rows are written on a second thread while the next chunk is normalised.
2. *Decide*: in reference-id order (ids are time-ordered, so this is the order the
   references were created in), each reference is decided against the references
   stored under its probe keys that are older than it, each taken with the canonical
   reference of its group: all of them screened at once (`dedup.screening`), those
   worth it scored (`dedup.decide_among`, the same answer as `dedup.decide` over all).
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
    """Of `seconds`, the index pass's (evidence, blocking keys, pending marks kept); the
    rest is the decide pass's."""
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
    """
    started = time.perf_counter()
    with units() as uow:
        if uow.imports.get_record(record_id) is None:
            raise UnknownRecordError(f"no import record with id {record_id}")
        batch_ids = [batch.id for batch in uow.imports.list_batches(record_id)]
    _index_record(units, record_id, batch_ids, chunk_size)
    report = DeduplicationReport(record_id, index_seconds=time.perf_counter() - started)
    after: uuid.UUID | None = None
    seen: _Seen | None = None
    while True:
        with units() as uow:
            seen = seen or _Seen(uow.dedup)
            chunk = uow.dedup.record_references(record_id, after=after, limit=chunk_size)
            if not chunk:
                report.counts = uow.dedup.decision_counts(record_id)
                break
            seen.start_chunk(uow.dedup)
            changed, kept = _decide_chunk(seen, chunk, per_key)
            uow.commit()
        report.references += len(chunk)
        report.changed += changed
        report.kept += kept
        after = chunk[-1]
        if on_progress is not None:
            on_progress(report.references)
    report.seconds = time.perf_counter() - started
    return report


def _index_record(
    units: UnitOfWorkFactory, record_id: uuid.UUID, batch_ids: Sequence[uuid.UUID], chunk_size: int
) -> None:
    """Keep the evidence and blocking keys of the record's new references; mark them pending.

    A chunk of references at a time, batch by batch in line order. Each chunk's rows are
    written in a unit of work of their own, on a second thread, while the next chunk is
    read and normalised: PostgreSQL's share (the rows' indexes and foreign keys) then
    overlaps this process's. One chunk's writes are in flight at most; all are committed
    before this returns, and an error of theirs is raised here. Each write is idempotent
    (rows kept already stay), so a run that stops half way is finished by the next.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="dedup-index") as writer:
        writing: Future[None] | None = None
        for batch_id in batch_ids:
            after_line = 0
            while True:
                with units() as uow:
                    rows = uow.imports.created_references(batch_id, after_line, chunk_size)
                    if not rows:
                        break
                    ids = [reference_id for _, reference_id in rows]
                    evidence = uow.dedup.content_evidence(ids)
                keys = [(key, ref) for ref, known in evidence.items() for key in index_keys(known)]
                if writing is not None:
                    writing.result()
                writing = writer.submit(_keep_index, units, record_id, ids, evidence, keys)
                after_line = rows[-1][0]
        if writing is not None:
            writing.result()


def _keep_index(
    units: UnitOfWorkFactory,
    record_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    evidence: Mapping[uuid.UUID, Evidence],
    keys: Sequence[tuple[str, uuid.UUID]],
) -> None:
    """Write one chunk of the index pass in a unit of work of its own."""
    with units() as uow:
        uow.dedup.keep_evidence(evidence)
        uow.dedup.add_blocking_keys(keys)
        uow.dedup.mark_pending(ids, record_id)
        uow.commit()


def _json_ready(evidence: Mapping[str, Any]) -> dict[str, Any]:
    """`evidence` as it reads back from a JSON column (tuples as lists), to compare."""
    loaded: dict[str, Any] = orjson.loads(orjson.dumps(evidence))
    return loaded


class _Seen:
    """What one run of the step has read, kept across its chunks to be read once.

    While the decide pass runs, the index pass is over: the references under a key, their
    screens (arranged per key, `KeyScreens`) and the candidates' evidence stay as read.
    Groups change only by the step's own decisions, which it records here as it makes
    them (`set_group`). Each map is emptied when it passes `SEEN_AT_MOST` entries, at the
    start of a chunk (everything is in the database by then), so memory stays bounded on
    any repository. Reference ids are kept as their 128-bit integers (`UUID.int`, which
    orders them as the database does): the step compares and hashes millions of them,
    and `UUID` does that in Python.
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
