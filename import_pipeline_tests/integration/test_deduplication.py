"""The deduplication step on a real store (SQLite and PostgreSQL), through the services.

A record's new references are decided against earlier records; a re-run changes no
row; a person's decision survives a re-run; a PubMed id shared by two papers with
different DOIs and titles is not merged (spec section 3, contested identifiers).
"""

import time

import sqlalchemy as sa

from import_pipeline.dedup.vocabulary import DecidedBy
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.references.queries import identifiers_of
from import_pipeline.services.deduplication import deduplicate_record, record_person_decision
from import_pipeline.store.dedup import SqlDedupStore
from import_pipeline.store.tables import dedup_blocking_key, dedup_decision
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.bibliographic import import_papers, paper
from import_pipeline_tests.store_access import repository

TITLE = "Efficacy of batroxobin for vascular cognitive impairment"


def results(engine, record_id):
    with repository(engine) as imports:
        return imports.list_results(record_id=record_id)


def decision_rows(engine):
    with engine.connect() as connection:
        return connection.execute(
            sa.select(dedup_decision).order_by(dedup_decision.c.reference_id)
        ).all()


def test_a_records_references_are_decided_against_earlier_records(engine, tmp_path):
    units = sql_units(engine)
    first = import_papers(
        units, tmp_path / "a.jsonl", [paper(TITLE, doi="10.1000/a"), paper("Other", other="o")]
    )
    deduplicate_record(units, first)
    second = import_papers(
        units,
        tmp_path / "b.jsonl",
        [
            paper(TITLE.lower(), authors=("Zhai QJ", "Yue XY"), other="embase-1"),
            paper(TITLE, year=2015, other="embase-2"),  # years apart: another paper
        ],
    )
    report = deduplicate_record(units, second)
    canonical = results(engine, first)[0].reference_id
    duplicate, later = (r.reference_id for r in results(engine, second))
    with sql_units(engine)() as uow:
        found = uow.dedup.decisions_of([canonical, duplicate, later])
    assert found[canonical].determination == "canonical"
    assert found[duplicate].duplicate_of == canonical
    assert found[later].determination == "canonical"
    assert report.counts == {"canonical": 1, "duplicate": 1, "pending": 0, "unresolved": 0}
    with engine.connect() as connection:
        keys = connection.execute(
            sa.select(sa.func.count()).where(dedup_blocking_key.c.reference_id == duplicate)
        ).scalar_one()
    assert keys >= 3  # title, year-author, year-volume-page


def test_a_rerun_changes_no_row(engine, tmp_path):
    units = sql_units(engine)
    record = import_papers(
        units, tmp_path / "a.jsonl", [paper(TITLE, other=str(n)) for n in range(5)]
    )
    deduplicate_record(units, record, chunk_size=2)
    before = decision_rows(engine)
    again = deduplicate_record(units, record, chunk_size=3)
    assert again.changed == 0
    assert decision_rows(engine) == before
    assert [row.determination for row in before].count("duplicate") == 4


def test_a_key_read_before_a_chunk_was_indexed_is_read_again(engine, tmp_path, monkeypatch):
    """Chunks are indexed while earlier ones are decided: a key read meanwhile may lack them.

    The index writes are slowed so that each chunk's keys land only after the chunk
    before it has read its keys. Line 1's title key is read (holding line 1 only) while
    line 3 is being indexed under it; line 5 (line 3 with its authors swapped and no
    pages, so that no other key leads to line 3) must still find line 3. (On SQLite the
    database's one writer lock makes the decide pass wait for the index anyway; the
    test bites on PostgreSQL, where it fails if the key is not read again.)
    """
    write_keys = SqlDedupStore.add_blocking_keys

    def slowly(store, rows):
        time.sleep(0.3)
        write_keys(store, rows)

    monkeypatch.setattr(SqlDedupStore, "add_blocking_keys", slowly)
    units = sql_units(engine)
    record = import_papers(
        units,
        tmp_path / "a.jsonl",
        [
            paper(TITLE, year=2001, other="1"),
            paper("Bone density in older women", other="2"),
            paper(TITLE, year=2015, other="3"),
            paper("Gait speed after hip fracture", other="4"),
            paper(
                TITLE,
                year=2015,
                authors=("X. Y. Yue", "Q. J. Zhai"),
                volume="",
                first_page="",
                last_page="",
                other="5",
            ),
        ],
        lines_per_batch=1,
    )
    report = deduplicate_record(units, record, chunk_size=2)
    ids = [r.reference_id for r in results(engine, record)]
    assert ids == sorted(ids)  # created in line order: the chunks are lines 1-2, 3-4, 5
    with sql_units(engine)() as uow:
        found = uow.dedup.decisions_of(ids)
    assert [found[ref].duplicate_of for ref in ids] == [None, None, None, None, ids[2]]
    assert report.counts["duplicate"] == 1
    assert deduplicate_record(units, record, chunk_size=2).changed == 0


def test_a_persons_decision_survives_a_rerun(engine, tmp_path):
    units = sql_units(engine)
    record = import_papers(
        units, tmp_path / "a.jsonl", [paper(TITLE, other="1"), paper(TITLE, other="2")]
    )
    deduplicate_record(units, record)
    newer = max(r.reference_id for r in results(engine, record))
    record_person_decision(units, newer, duplicate_of=None)
    deduplicate_record(units, record)
    with sql_units(engine)() as uow:
        kept = uow.dedup.decisions_of([newer])[newer]
    assert (kept.determination, kept.decided_by, kept.record_id) == (
        "canonical",
        DecidedBy.PERSON,
        record,
    )


def test_a_shared_pubmed_id_with_contradicting_doi_and_title_is_not_merged(engine, tmp_path):
    units = sql_units(engine)
    first = import_papers(
        units, tmp_path / "a.jsonl", [paper(TITLE, doi="10.1000/first", pmid=12090863)]
    )
    second = import_papers(
        units,
        tmp_path / "b.jsonl",
        [
            paper("Bone density in older women", doi="10.1000/second", pmid=12090863),
            paper(TITLE, doi="10.1000/first", pmid=12090863),  # the same paper again
        ],
    )
    deduplicate_record(units, second)
    [held] = results(engine, first)
    contested, same = results(engine, second)
    assert contested.status == ImportResultStatus.PARTIALLY_FAILED
    assert contested.reference_created is True
    assert contested.reference_id != held.reference_id
    assert "pm_id:12090863" in contested.failure_details
    assert str(held.reference_id) in contested.failure_details
    assert (same.status, same.reference_id) == (ImportResultStatus.COMPLETED, held.reference_id)
    with engine.connect() as connection:
        assert identifiers_of(connection, contested.reference_id) == ["doi:10.1000/second"]
        assert "pm_id:12090863" in identifiers_of(connection, held.reference_id)
    with sql_units(engine)() as uow:
        decision = uow.dedup.decisions_of([contested.reference_id])[contested.reference_id]
    assert decision.determination == "unresolved"
    assert decision.evidence["rule"] == "contested_identifier"
    assert decision.record_id == second
    again = import_papers(
        units,
        tmp_path / "c.jsonl",
        [paper("Bone density in older women", doi="10.1000/second", pmid=12090863)],
    )
    [reimported] = results(engine, again)  # merged into its own reference, still apart
    assert (reimported.reference_id, reimported.reference_created) == (
        contested.reference_id,
        False,
    )
    assert reimported.status == ImportResultStatus.PARTIALLY_FAILED
