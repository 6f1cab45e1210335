"""Candidate search by blocking keys: the port, and an in-memory index behind it.

`CandidateSearch` is what `decide`'s caller needs: the existing references sharing a
blocking key with a new one. The SQL store will answer it from an indexed key table (or
PostgreSQL's `pg_trgm`); `InMemoryCandidateIndex` answers it from a dict, for the
quality benchmark and the tests.
"""

import uuid
from collections import defaultdict
from typing import Protocol

from import_pipeline.dedup.blocking import index_keys, probe_keys
from import_pipeline.dedup.decisions import Candidate
from import_pipeline.dedup.normalise import Evidence


class CandidateSearch(Protocol):
    """Finds the existing references that share a blocking key with some evidence."""

    def candidates(self, evidence: Evidence) -> list[Candidate]:
        """The candidates for `evidence`, each once, in the order they were added."""
        ...

    def add(self, reference_id: uuid.UUID, canonical_id: uuid.UUID, evidence: Evidence) -> None:
        """Make a reference findable (a reference may be added with several evidence)."""
        ...


class InMemoryCandidateIndex:
    """A `CandidateSearch` over a dict from blocking key to the references stored under it."""

    def __init__(self) -> None:
        """An empty index."""
        self._entries: list[Candidate] = []
        self._by_key: defaultdict[str, list[int]] = defaultdict(list)

    def add(self, reference_id: uuid.UUID, canonical_id: uuid.UUID, evidence: Evidence) -> None:
        """Store `evidence` of `reference_id` (of group `canonical_id`) under its index keys."""
        position = len(self._entries)
        self._entries.append(Candidate(reference_id, canonical_id, evidence))
        for key in index_keys(evidence):
            self._by_key[key].append(position)

    def candidates(self, evidence: Evidence) -> list[Candidate]:
        """Every stored entry that shares a probe key of `evidence`, each once, oldest first."""
        positions: set[int] = set()
        for key in probe_keys(evidence):
            positions.update(self._by_key.get(key, ()))
        return [self._entries[position] for position in sorted(positions)]

    def __len__(self) -> int:
        """How many evidence entries are stored."""
        return len(self._entries)
