"""Deadlocks are retried by the batch op (within its retry budget); other errors fail fast.

The deadlock is real: a second connection takes the line's two identifiers in the
opposite order to the batch, synchronised on pg_stat_activity, so PostgreSQL aborts the
batch's transaction. The blocker commits only after it has seen the line `retrying`.
"""

import json
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, instance_for_test

from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.references.queries import count_references, owner_of
from import_pipeline.services.finalise import summarise
from import_pipeline.store.tables import external_identifier, import_result, reference
from import_pipeline_tests.data_files import sdk_sample
from import_pipeline_tests.integration.test_import_job import register, run_job
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres


def step_events(result, prefix="imported_references.process_import_batch"):
    return [e.event_type for e in result.all_events if e.step_key and e.step_key.startswith(prefix)]


class Blocker(threading.Thread):
    """Holds identifier pm_id:2, waits for the batch to block on it, then takes pm_id:1."""

    def __init__(self, engine: sa.Engine) -> None:
        super().__init__(daemon=True)
        self.engine = engine
        self.reference_id = uuid.uuid4()
        self.holding = threading.Event()
        self.retrying_details: list[str] = []
        self.error: BaseException | None = None

    def _insert_identifier(self, connection, number):
        connection.execute(
            sa.insert(external_identifier).values(
                identifier_key=f"pm_id:{number}",
                reference_id=self.reference_id,
                identifier_type="pm_id",
                identifier=str(number),
            )
        )

    def _wait_for(self, query, what, timeout=30.0):
        deadline = time.monotonic() + timeout
        with self.engine.connect() as probe:
            while time.monotonic() < deadline:
                rows = probe.execute(query).all()
                probe.commit()
                if rows:
                    return rows
                time.sleep(0.02)
        raise TimeoutError(f"gave up waiting for {what}")

    def run(self):
        try:
            with self.engine.begin() as connection:
                connection.exec_driver_sql("SET LOCAL deadlock_timeout = '10s'")
                pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                connection.execute(
                    sa.insert(reference).values(
                        id=self.reference_id, visibility="public", created_at=sa.func.now()
                    )
                )
                self._insert_identifier(connection, 2)
                self.holding.set()
                self._wait_for(
                    sa.text(
                        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        f"AND datname = current_database() AND pid <> {pid}"
                    ),
                    "the batch to block",
                )
                self._insert_identifier(connection, 1)  # closes the cycle: the batch is aborted
                rows = self._wait_for(
                    sa.select(import_result.c.failure_details).where(
                        import_result.c.status == "retrying"
                    ),
                    "the line to be marked retrying",
                )
                self.retrying_details = [row[0] for row in rows]
        except BaseException as error:  # reported by the test
            self.error = error
            self.holding.set()


def test_deadlock_is_retried_and_settles_correctly(pg_engine, postgres_url, tmp_path):
    source = tmp_path / "one.jsonl"
    source.write_text(
        json.dumps(
            {
                "identifiers": [
                    {"identifier_type": "pm_id", "identifier": 1},
                    {"identifier_type": "pm_id", "identifier": 2},
                ]
            }
        )
        + "\n"
    )
    record_id = register(pg_engine, source)
    blocker = Blocker(pg_engine)
    blocker.start()
    assert blocker.holding.wait(10)
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, record_id)
    blocker.join(30)
    assert blocker.error is None, blocker.error
    assert result.success
    events = step_events(result)
    assert DagsterEventType.STEP_UP_FOR_RETRY in events
    assert DagsterEventType.STEP_RESTARTED in events
    assert len(blocker.retrying_details) == 1
    assert blocker.retrying_details[0].startswith(
        "Entry 1: retrying after DeadlockDetected [40P01]"
    )

    with repository(pg_engine) as imports:
        [line] = imports.list_results(record_id=record_id)
        summary = summarise(imports, record_id)
    assert line.status == "completed"
    assert line.reference_id == blocker.reference_id
    assert line.reference_created is False
    assert summary.record.status == ImportRecordStatus.COMPLETED
    with pg_engine.connect() as connection:
        assert owner_of(connection, "pm_id:1") == blocker.reference_id
        assert owner_of(connection, "pm_id:2") == blocker.reference_id
        assert count_references(connection) == 1


def test_non_transient_error_fails_fast_naming_batch_and_cause(pg_engine, postgres_url):
    record_id = register(pg_engine, sdk_sample("eppi_import.jsonl"))
    with pg_engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE enhancement")
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, record_id, raise_on_error=False)
    assert not result.success
    events = step_events(result)
    assert DagsterEventType.STEP_UP_FOR_RETRY not in events
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.user_failure_data.description
    with repository(pg_engine) as imports:
        summary = summarise(imports, record_id)
        results = imports.list_results(record_id=record_id)
    [batch] = summary.batches
    assert message.startswith(f"batch {batch.id} failed: ")
    assert "UndefinedTable" in message and "enhancement" in message
    # Not the data's fault: the record stays started, for a run after the fix to finish.
    assert summary.record.status == ImportRecordStatus.STARTED
    assert summary.record.failure_details is None
    assert message.endswith("the record stays started")
    # The interrupted lines are settled as failed with the cause: none left retrying.
    assert {r.status for r in results} == {"failed"}
    assert all("UndefinedTable" in r.failure_details for r in results)
