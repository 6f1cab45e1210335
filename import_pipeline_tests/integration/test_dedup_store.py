"""The probable-duplicate store's contract, held by SQL (both databases) and the fake.

The step relies on these rules: keys bounded per key and oldest first, a `pending`
mark that never replaces a decision, and an upsert that never replaces a person's
decision with an automatic one.
"""

import json
import uuid

import pytest

from import_pipeline.dedup.stored import ReferenceDecision
from import_pipeline.dedup.vocabulary import DecidedBy
from import_pipeline.domain.parsing import parse_line
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.bibliographic import paper
from import_pipeline_tests.fakes import MemoryDatabase


@pytest.fixture(params=["sql", "memory"])
def units(request, engine):
    """Units of work on the test's database (SQLite or PostgreSQL), or on the fake."""
    return sql_units(engine) if request.param == "sql" else MemoryDatabase().units()


def references(units, *papers):
    lines = [parse_line(n, json.dumps(item)) for n, item in enumerate(papers, start=1)]
    with units() as uow:
        outcomes = uow.references.ingest(lines)
        uow.commit()
    return [outcome.reference_id for outcome in outcomes]


def test_evidence_comes_from_the_bibliographic_enhancement_and_the_doi(units):
    [ref] = references(units, paper("Part II: a Trial [Chinese]", doi="10.1000/ABC", year=2011))
    with units() as uow:
        evidence = uow.dedup.evidence_of([ref, uuid.uuid4()])
    assert list(evidence) == [ref]
    assert evidence[ref].title == "part ii a trial"
    assert evidence[ref].doi == "10.1000/abc"
    assert evidence[ref].year == 2011
    assert evidence[ref].authors == ("zhai", "yue")


def test_references_under_a_key_are_bounded_and_oldest_first(units):
    refs = sorted(references(units, *(paper(f"title {n}", other=str(n)) for n in range(5))))
    with units() as uow:
        uow.dedup.add_blocking_keys([("k:a", ref) for ref in refs] + [("k:b", refs[4])])
        uow.dedup.add_blocking_keys([("k:a", refs[0])])  # stored already: ignored
        uow.commit()
    with units() as uow:
        found = uow.dedup.references_under(["k:a", "k:b", "k:none"], per_key=3)
    assert found == {"k:a": refs[:3], "k:b": [refs[4]]}


def test_pending_never_replaces_a_decision_and_pages_in_id_order(units):
    refs = sorted(references(units, *(paper(f"title {n}", other=str(n)) for n in range(3))))
    record_id = uuid.uuid4()
    with units() as uow:
        uow.dedup.save_decisions([ReferenceDecision(refs[1], "canonical")])
        uow.dedup.mark_pending(refs, record_id)
        uow.commit()
    with units() as uow:
        decisions = uow.dedup.decisions_of(refs)
        assert [decisions[ref].determination for ref in refs] == ["pending", "canonical", "pending"]
        assert {decisions[ref].record_id for ref in refs} == {record_id}
        assert uow.dedup.record_references(record_id, after=None, limit=2) == refs[:2]
        assert uow.dedup.record_references(record_id, after=refs[1], limit=2) == refs[2:]
        counts = uow.dedup.decision_counts(record_id)
    assert counts == {"canonical": 1, "duplicate": 0, "pending": 2, "unresolved": 0}


def test_an_automatic_decision_never_replaces_a_persons(units):
    first, second = references(units, paper("one title", other="1"), paper("two", other="2"))
    person = ReferenceDecision(first, "canonical", decided_by=DecidedBy.PERSON)
    automatic = ReferenceDecision(first, "duplicate", second, 0.9, {"rule": "title_authors"})
    with units() as uow:
        assert uow.dedup.save_decisions([person]) == 1
        assert uow.dedup.save_decisions([automatic]) == 0
        uow.commit()
    with units() as uow:
        stored = uow.dedup.decisions_of([first])[first]
    assert (stored.determination, stored.decided_by) == ("canonical", DecidedBy.PERSON)
    assert stored.duplicate_of is None
