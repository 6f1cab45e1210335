"""The deduplication service on the in-memory unit of work: the step's rules, no database.

A record's new references are decided against earlier records' and its own older
ones; a re-run writes nothing; a person's decision stays; a reference with nothing to
compare is unresolved.
"""

import pytest

from import_pipeline.dedup.vocabulary import DecidedBy
from import_pipeline.domain.errors import InvalidDecisionError, UnknownReferenceError
from import_pipeline.services.deduplication import (
    deduplicate_record,
    record_person_decision,
    reference_decision,
)
from import_pipeline_tests.bibliographic import import_papers, paper
from import_pipeline_tests.fakes import MemoryDatabase, MemoryDedupStore

TITLE = "Efficacy of batroxobin for vascular cognitive impairment"


@pytest.fixture
def units():
    return MemoryDatabase().units()


def references_of(units, record_id):
    with units() as uow:
        return [r.reference_id for r in uow.imports.list_results(record_id=record_id)]


def decisions(units, refs):
    with units() as uow:
        found = uow.dedup.decisions_of(refs)
    return [found[ref] for ref in refs]


def test_a_new_reference_is_a_duplicate_of_an_earlier_records(units, tmp_path):
    first = import_papers(units, tmp_path / "a.jsonl", [paper(TITLE, doi="10.1000/a")])
    deduplicate_record(units, first)
    second = import_papers(
        units,
        tmp_path / "b.jsonl",
        [paper(TITLE.upper() + " [Chinese]", other="embase-1"), paper("Another study", other="x")],
    )
    report = deduplicate_record(units, second)
    [canonical] = references_of(units, first)
    duplicate, other = references_of(units, second)
    found = decisions(units, [canonical, duplicate, other])
    assert [d.determination for d in found] == ["canonical", "duplicate", "canonical"]
    assert found[1].duplicate_of == canonical
    assert found[1].evidence["rule"] == "title_authors"
    assert report.references == 2
    assert report.counts == {"canonical": 1, "duplicate": 1, "pending": 0, "unresolved": 0}


def test_duplicates_within_one_record_point_at_the_oldest(units, tmp_path):
    record = import_papers(
        units,
        tmp_path / "a.jsonl",
        [paper(TITLE, other="1"), paper(TITLE + ".", other="2"), paper(TITLE, other="3")],
    )
    deduplicate_record(units, record)
    first, second, third = references_of(units, record)
    found = decisions(units, sorted([first, second, third]))
    oldest = min(first, second, third)
    assert [d.duplicate_of for d in found] == [None, oldest, oldest]


def test_a_rerun_writes_nothing(units, tmp_path):
    record = import_papers(
        units, tmp_path / "a.jsonl", [paper(TITLE, other="1"), paper(TITLE, other="2")]
    )
    deduplicate_record(units, record)
    with units() as uow:
        before = dict(uow.dedup.decisions_of(references_of(units, record)))
    again = deduplicate_record(units, record)
    with units() as uow:
        after = dict(uow.dedup.decisions_of(references_of(units, record)))
    assert again.changed == 0
    assert after == before  # timestamps included


def test_a_persons_decision_survives_a_rerun(units, tmp_path):
    record = import_papers(
        units, tmp_path / "a.jsonl", [paper(TITLE, other="1"), paper(TITLE, other="2")]
    )
    deduplicate_record(units, record)
    older, newer = sorted(references_of(units, record))
    assert decisions(units, [newer])[0].duplicate_of == older
    record_person_decision(units, newer, duplicate_of=None)
    report = deduplicate_record(units, record)
    [kept] = decisions(units, [newer])
    assert (kept.determination, kept.decided_by) == ("canonical", DecidedBy.PERSON)
    assert report.kept == 1


def test_a_person_points_a_duplicate_at_the_canonical_of_its_group(units, tmp_path):
    record = import_papers(
        units,
        tmp_path / "a.jsonl",
        [paper(TITLE, other="1"), paper(TITLE, other="2"), paper("Unrelated", other="3")],
    )
    deduplicate_record(units, record)
    *same_title, unrelated = references_of(units, record)
    older, newer = sorted(same_title)
    decided = record_person_decision(units, unrelated, duplicate_of=newer)
    assert decided.duplicate_of == older
    assert reference_decision(units, unrelated).decided_by == DecidedBy.PERSON
    with pytest.raises(InvalidDecisionError):
        record_person_decision(units, older, duplicate_of=newer)
    with pytest.raises(UnknownReferenceError):
        record_person_decision(units, older, duplicate_of=older.__class__(int=1))


def test_a_reference_without_bibliographic_evidence_is_unresolved(units, tmp_path):
    bare = {"identifiers": [{"identifier_type": "pm_id", "identifier": 7}]}
    record = import_papers(units, tmp_path / "a.jsonl", [bare])
    report = deduplicate_record(units, record)
    assert report.counts["unresolved"] == 1


def test_a_failed_index_write_fails_the_step_and_a_rerun_finishes_it(units, tmp_path, monkeypatch):
    """The index pass writes on a second thread: its error reaches the caller, nothing is lost."""
    record = import_papers(
        units,
        tmp_path / "a.jsonl",
        [paper(TITLE, other="1"), paper("Another study", other="2"), paper(TITLE, other="3")],
    )
    keep = MemoryDedupStore.add_blocking_keys
    calls = []

    def fails_second_chunk(self, rows):
        calls.append(rows)
        if len(calls) == 2:
            raise ConnectionError("the database went away")
        keep(self, rows)

    monkeypatch.setattr(MemoryDedupStore, "add_blocking_keys", fails_second_chunk)
    with pytest.raises(ConnectionError, match="went away"):
        deduplicate_record(units, record, chunk_size=1)
    monkeypatch.setattr(MemoryDedupStore, "add_blocking_keys", keep)
    report = deduplicate_record(units, record, chunk_size=1)
    assert report.counts == {"canonical": 2, "duplicate": 1, "pending": 0, "unresolved": 0}
