"""Deciding a new reference against its candidates, and the shared-identifier conflict rule.

`decide` takes a new reference's evidence and the candidates its blocking keys found
(each with the canonical reference it belongs to) and answers one `Decision`: canonical,
duplicate of a named canonical reference, or unresolved, with a score and the evidence.
`contradicts_shared_identifier` is spec section 3's guard on exact-identifier merging: a
line that would merge through one identifier while its DOI and other evidence contradict
the reference that holds it is not merged.
"""

import uuid
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from import_pipeline.dedup.normalise import Evidence
from import_pipeline.dedup.scoring import (
    TITLE_SAME,
    PairDecision,
    contradictions,
    score_pair,
    title_similarity,
    worth_scoring,
)
from import_pipeline.dedup.vocabulary import DuplicateDetermination


@dataclass(frozen=True, slots=True)
class Candidate:
    """An existing reference found by blocking keys, with the canonical reference it joins."""

    reference_id: uuid.UUID
    canonical_id: uuid.UUID
    """The reference itself when it is canonical (or unresolved), else its canonical one."""
    evidence: Evidence


@dataclass(frozen=True, slots=True)
class Decision:
    """The automatic deduplication decision for one new reference."""

    determination: DuplicateDetermination
    duplicate_of: uuid.UUID | None = None
    """The canonical reference id when `determination` is `duplicate`, else None."""
    score: float = 0.0
    """The score of the decisive pair (0 when no candidate was scored)."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """Why: the decisive candidate, its pair evidence, and what else was considered."""


def has_searchable_evidence(evidence: Evidence) -> bool:
    """True when there is enough to look for duplicates: a DOI, a title or an author."""
    return bool(evidence.doi or evidence.title or evidence.authors)


def decide(new: Evidence, candidates: Iterable[Candidate]) -> Decision:
    """Canonical, duplicate of a canonical reference, or unresolved, for `new`.

    Duplicate of the canonical reference of the best-scoring duplicate pair, unless
    another reference of that same canonical group contradicts `new` (then unresolved:
    the group disagrees with itself about it). Otherwise unresolved when some pair was
    unresolved or when `new` has too little evidence to search, and canonical when
    every candidate was told apart (or there was none).
    """
    candidates = list(candidates)
    worth = [worth_scoring(new, candidate.evidence) for candidate in candidates]
    kept = to_score([candidate.canonical_id for candidate in candidates], worth)
    return decide_among(new, [candidates[p] for p in kept], considered=len(candidates))


def to_score(groups: Sequence[Hashable], worth: Sequence[bool]) -> list[int]:
    """Positions of the candidates to score: those worth it, and the rest of their groups.

    `groups` are the candidates' canonical ids (any hashable spelling of them), `worth`
    their screening answers. A pair
    not worth scoring is canonical; it still counts as a dissenter of a group that
    another candidate matches, so the members of such groups are all scored.
    """
    matched = {group for group, keep in zip(groups, worth, strict=True) if keep}
    return [
        position
        for position, (group, keep) in enumerate(zip(groups, worth, strict=True))
        if keep or group in matched
    ]


def decide_among(new: Evidence, candidates: Sequence[Candidate], *, considered: int) -> Decision:
    """`decide` once the candidates are screened: `candidates` are those `to_score` kept.

    `considered` is how many candidates the screening looked at (in the evidence of a
    canonical decision).
    """
    if not has_searchable_evidence(new):
        return Decision(DuplicateDetermination.UNRESOLVED, evidence={"reason": "no evidence"})
    scored = [(candidate, score_pair(new, candidate.evidence)) for candidate in candidates]
    duplicates = [p for p in scored if p[1].determination is DuplicateDetermination.DUPLICATE]
    if duplicates:
        best, pair = max(duplicates, key=lambda p: p[1].score)
        dissent = [
            candidate.reference_id
            for candidate, other in scored
            if candidate.canonical_id == best.canonical_id
            and other.determination is not DuplicateDetermination.DUPLICATE
            and other.evidence["contradictions"]
        ]
        groups = sorted({str(c.canonical_id) for c, _ in duplicates} - {str(best.canonical_id)})
        evidence = _pair_evidence(best, pair) | {"other_groups_matched": groups}
        if dissent:
            evidence["contradicted_by"] = [str(reference) for reference in dissent]
            return Decision(DuplicateDetermination.UNRESOLVED, None, pair.score, evidence)
        return Decision(DuplicateDetermination.DUPLICATE, best.canonical_id, pair.score, evidence)
    unresolved = [p for p in scored if p[1].determination is DuplicateDetermination.UNRESOLVED]
    if unresolved:
        best, pair = max(unresolved, key=lambda p: p[1].score)
        return Decision(
            DuplicateDetermination.UNRESOLVED, None, pair.score, _pair_evidence(best, pair)
        )
    evidence = {"candidates_scored": considered}
    return Decision(DuplicateDetermination.CANONICAL, None, 0.0, evidence)


def _pair_evidence(candidate: Candidate, pair: PairDecision) -> dict[str, Any]:
    return {"candidate": str(candidate.reference_id), **pair.evidence}


def contradicts_shared_identifier(new: Evidence, existing: Evidence) -> bool:
    """True when `new` shares an identifier with `existing` but is evidently another work.

    Spec section 3: strongly conflicting evidence, such as a PubMed id that a database
    gave two papers. Here: different DOIs (both known), and a second, independent
    disagreement: titles that are not the same (below `TITLE_SAME`), or any further
    contradiction of `scoring.contradictions` (year, pages, volume, title numbers).
    Different DOIs alone are not enough (one paper may carry its preprint's DOI too),
    nor a changed title alone (titles change between versions). Then the line is not
    merged through the shared identifier.
    """
    if new.doi is None or existing.doi is None or new.doi == existing.doi:
        return False
    similarity = title_similarity(new, existing)
    titles_differ = similarity is not None and similarity < TITLE_SAME
    return titles_differ or len(contradictions(new, existing)) > 1
