"""The reference resource's ingest on SQLite and real PostgreSQL: create, merge, conflict.

The same tests run on both stores (the `engine` fixture is parametrised).
"""

import json
import threading
import time

import pytest
import sqlalchemy as sa

from import_pipeline.domain.parsing import parse_line
from import_pipeline.domain.statuses import ImportResultStatus as S
from import_pipeline.references.ingest import IdentifierRaceError
from import_pipeline.references.queries import (
    count_enhancements,
    count_references,
    identifiers_of,
    owner_of,
)
from import_pipeline.references.store import SqlReferenceStore
from import_pipeline.store.tables import enhancement

ABSTRACT = {
    "source": "test",
    "visibility": "public",
    "content": {"enhancement_type": "abstract", "process": "other", "abstract": "An abstract."},
}


def parsed(number, identifiers, enhancements=()):
    return parse_line(
        number, json.dumps({"identifiers": identifiers, "enhancements": list(enhancements)})
    )


def doi(value):
    return {"identifier_type": "doi", "identifier": value}


def pmid(value):
    return {"identifier_type": "pm_id", "identifier": value}


def ingest(engine, lines):
    with engine.begin() as connection:
        return SqlReferenceStore(connection).ingest(lines)


def test_creates_a_reference_with_identifiers_and_enhancements(engine):
    [outcome] = ingest(engine, [parsed(1, [doi("10.1000/A"), pmid(7)], [ABSTRACT])])
    assert outcome.status == S.COMPLETED
    assert outcome.reference_created is True
    with engine.connect() as connection:
        assert count_references(connection) == 1
        assert identifiers_of(connection, outcome.reference_id) == ["doi:10.1000/a", "pm_id:7"]
        assert count_enhancements(connection, outcome.reference_id) == 1


def test_merges_by_a_doi_written_differently(engine):
    [first] = ingest(engine, [parsed(1, [doi("10.1000/ABC")])])
    [second] = ingest(
        engine, [parsed(1, [doi("https://doi.org/10.1000/abc"), pmid(42)], [ABSTRACT])]
    )
    assert second.reference_created is False
    assert second.reference_id == first.reference_id
    with engine.connect() as connection:
        assert count_references(connection) == 1
        assert identifiers_of(connection, first.reference_id) == ["doi:10.1000/abc", "pm_id:42"]
        assert count_enhancements(connection, first.reference_id) == 1


def test_reimport_is_idempotent_and_stores_each_enhancement_once(engine):
    lines = [parsed(n, [doi(f"10.1000/{n}")], [ABSTRACT]) for n in range(1, 21)]
    first = ingest(engine, lines)
    again = ingest(engine, lines)
    assert all(o.reference_created for o in first)
    assert not any(o.reference_created for o in again)
    assert [o.reference_id for o in first] == [o.reference_id for o in again]
    with engine.connect() as connection:
        assert count_references(connection) == 20
        assert (
            connection.execute(sa.select(sa.func.count()).select_from(enhancement)).scalar() == 20
        )


def test_duplicates_inside_one_chunk_are_merged(engine):
    outcomes = ingest(
        engine,
        [
            parsed(1, [doi("10.1000/x")], [ABSTRACT]),
            parsed(2, [doi("DOI:10.1000/X"), pmid(9)], [ABSTRACT]),
        ],
    )
    assert [o.reference_created for o in outcomes] == [True, False]
    assert outcomes[0].reference_id == outcomes[1].reference_id
    with engine.connect() as connection:
        assert count_enhancements(connection, outcomes[0].reference_id) == 1
        assert owner_of(connection, "pm_id:9") == outcomes[0].reference_id


def test_conflict_between_two_references_writes_nothing(engine):
    [a] = ingest(engine, [parsed(1, [doi("10.1000/a")])])
    [b] = ingest(engine, [parsed(2, [pmid(5)])])
    [conflict] = ingest(engine, [parsed(3, [doi("10.1000/a"), pmid(5), pmid(6)], [ABSTRACT])])
    assert conflict.status == S.FAILED
    assert conflict.reference_id is None
    assert conflict.failure_details.startswith(
        "Entry 3: identifiers belong to different references"
    )
    assert str(a.reference_id) in conflict.failure_details
    assert str(b.reference_id) in conflict.failure_details
    with engine.connect() as connection:
        assert owner_of(connection, "pm_id:6") is None
        assert count_enhancements(connection, a.reference_id) == 0
        assert count_references(connection) == 2


def test_partially_failed_line_keeps_its_details(engine):
    [outcome] = ingest(engine, [parsed(4, [doi("10.1000/ok"), doi("bad")])])
    assert outcome.status == S.PARTIALLY_FAILED
    assert outcome.reference_created is True
    assert outcome.failure_details.startswith("Entry 4: imported without invalid identifier")


@pytest.mark.postgres
def test_an_identifier_written_meanwhile_is_a_race_the_retry_merges_into(pg_engine):
    """Two transactions create the same identifier: the second's insert waits for the
    first, loses when it commits (the look-up before it could not see the key), and
    raises the transient `IdentifierRaceError`; after a rollback, it merges."""
    first, second = parsed(1, [pmid(42)]), parsed(2, [pmid(42), pmid(43)])
    with pg_engine.connect() as holder, pg_engine.connect() as loser:
        holder.begin()
        [held] = SqlReferenceStore(holder).ingest([first])
        loser.begin()
        loser_pid = loser.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        raised: list[BaseException] = []

        def lose() -> None:
            try:
                SqlReferenceStore(loser).ingest([second])
            except BaseException as error:
                raised.append(error)

        racer = threading.Thread(target=lose)
        racer.start()
        with pg_engine.connect() as probe:  # the loser's insert waits on the holder's row
            deadline = time.monotonic() + 10
            while (
                time.monotonic() < deadline
                and probe.exec_driver_sql(
                    f"SELECT wait_event_type FROM pg_stat_activity WHERE pid = {loser_pid}"
                ).scalar()
                != "Lock"
            ):
                time.sleep(0.02)
        holder.commit()
        racer.join(10)
        assert [type(error) for error in raised] == [IdentifierRaceError]
        loser.rollback()
    [retried] = ingest(pg_engine, [second])
    assert not retried.reference_created
    assert retried.reference_id == held.reference_id
    with pg_engine.connect() as connection:
        assert identifiers_of(connection, held.reference_id) == ["pm_id:42", "pm_id:43"]
