"""A transient error marks lines `retrying`, attempt after attempt, until it clears.

Lines hit by a transient fault are never `failed` for it: when the retries run out the
step fails and the lines stay `retrying` for a later run (spec section 2).

Real PostgreSQL: another transaction holds an identifier the batch needs, and the batch's
connections have a short lock_timeout, so PostgreSQL raises LockNotAvailable (55P03).
"""

import json
import uuid

import pytest
import sqlalchemy as sa

from import_pipeline.domain.statuses import ImportBatchStatus
from import_pipeline.services.batches import TransientBatchError, process_batch
from import_pipeline.services.planning import start_and_plan
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.tables import external_identifier, reference
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.integration.test_import_job import register
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres


@pytest.fixture
def impatient_engine(postgres_url):
    engine = create_db_engine(postgres_url)
    engine.dispose()
    impatient = sa.create_engine(engine.url, connect_args={"options": "-c lock_timeout=200"})
    yield impatient
    impatient.dispose()


def hold_identifier(connection, number):
    ref = uuid.uuid4()
    connection.execute(
        sa.insert(reference).values(id=ref, visibility="public", created_at=sa.func.now())
    )
    connection.execute(
        sa.insert(external_identifier).values(
            identifier_key=f"pm_id:{number}",
            reference_id=ref,
            identifier_type="pm_id",
            identifier=str(number),
        )
    )


def test_retrying_at_every_attempt_then_completed_once_the_fault_clears(
    pg_engine, impatient_engine, tmp_path
):
    source = tmp_path / "s.jsonl"
    source.write_text(
        "".join(
            json.dumps({"identifiers": [{"identifier_type": "pm_id", "identifier": n}]}) + "\n"
            for n in (1, 2, 3)
        )
    )
    record_id = register(pg_engine, source)
    [batch_id] = start_and_plan(sql_units(pg_engine), record_id, 100)
    with pg_engine.connect() as blocker:
        blocker.begin()
        hold_identifier(blocker, 2)
        with pytest.raises(
            TransientBatchError, match=r"3 line\(s\) from 1 to 3\): LockNotAvailable \[55P03\]"
        ):
            process_batch(
                sql_units(impatient_engine),
                batch_id,
                chunk_size=10,
                writers=1,
            )
        with repository(pg_engine) as imports:
            results = imports.list_results(batch_id=batch_id)
            assert {r.status for r in results} == {"retrying"}
            assert imports.get_batch(batch_id).status == ImportBatchStatus.STARTED
        assert results[0].failure_details.startswith(
            "Entry 1: retrying after LockNotAvailable [55P03]"
        )

        with pytest.raises(TransientBatchError):  # still held: still retrying, not failed
            process_batch(sql_units(impatient_engine), batch_id, chunk_size=10, writers=1)
        with repository(pg_engine) as imports:
            assert {r.status for r in imports.list_results(batch_id=batch_id)} == {"retrying"}
        blocker.rollback()
    report = process_batch(sql_units(impatient_engine), batch_id, chunk_size=10, writers=1)
    assert report.status == ImportBatchStatus.COMPLETED
    with repository(pg_engine) as imports:
        results = imports.list_results(batch_id=batch_id)
    assert [r.line_number for r in results] == [1, 2, 3]
    assert {r.status for r in results} == {"completed"}
    assert all(r.failure_details is None for r in results)
