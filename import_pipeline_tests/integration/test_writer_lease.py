"""One writer per record: the lease rules on both stores, and a second run that must not write.

A run claims the record's lease; another run gets it only when it is free, its holder
finished, or its holder stopped renewing it. A second run requested while the first
writes fails its plan step without writing anything.
"""

import datetime
import threading
import uuid

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, instance_for_test

from benchmarks.generate import generate
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.services import writer_lease
from import_pipeline.services.finalise import summarise
from import_pipeline.services.registration import register_import
from import_pipeline.services.writer_lease import (
    LeaseKeeper,
    RecordBusyError,
    claim_record,
    release_record,
    wait_and_claim,
)
from import_pipeline.settings import get_settings
from import_pipeline.store.tables import import_record
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import non_blank_lines, sdk_sample
from import_pipeline_tests.e2e.test_process_faults import execute, wait_for_results
from import_pipeline_tests.store_access import repository


def a_record(engine):
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="lease", processor_name="p", processor_version="1"),
        [str(sdk_sample("eppi_import.jsonl"))],
    )
    return record.id


def age_lease(engine, record_id, seconds):
    with engine.begin() as connection:
        connection.execute(
            sa.update(import_record)
            .where(import_record.c.id == record_id)
            .values(
                writer_seen_at=datetime.datetime.now(datetime.UTC)
                - datetime.timedelta(seconds=seconds)
            )
        )


def holder(engine, record_id):
    with repository(engine) as imports:
        return imports.writer_lease(record_id)[0]


def test_a_free_record_is_claimed_and_its_holder_may_claim_again(engine):
    record_id = a_record(engine)
    claim_record(sql_units(engine), record_id, "run-a", lease_seconds=30)
    claim_record(sql_units(engine), record_id, "run-a", lease_seconds=30)
    assert holder(engine, record_id) == "run-a"


def test_a_fresh_lease_of_another_run_is_refused_naming_it(engine):
    record_id = a_record(engine)
    claim_record(sql_units(engine), record_id, "run-a", lease_seconds=30)
    with pytest.raises(RecordBusyError, match="being written by run run-a"):
        claim_record(sql_units(engine), record_id, "run-b", lease_seconds=30)
    assert holder(engine, record_id) == "run-a"


def test_a_stale_lease_or_a_finished_holder_gives_the_record_up(engine):
    record_id = a_record(engine)
    claim_record(sql_units(engine), record_id, "run-a", lease_seconds=30)
    age_lease(engine, record_id, 31)  # run-a stopped renewing: killed outright
    claim_record(sql_units(engine), record_id, "run-b", lease_seconds=30)
    assert holder(engine, record_id) == "run-b"
    claim_record(
        sql_units(engine),
        record_id,
        "run-c",
        lease_seconds=30,
        holder_finished={"run-b"}.__contains__,
    )
    assert holder(engine, record_id) == "run-c"


def test_a_holder_that_lost_its_lease_stops_and_release_frees_it(engine, monkeypatch):
    record_id = a_record(engine)
    clock = [0.0]
    claim_record(sql_units(engine), record_id, "run-a", lease_seconds=30)
    keeper = LeaseKeeper(
        sql_units(engine), record_id, "run-a", lease_seconds=30, clock=lambda: clock[0]
    )
    clock[0] = 6.0
    keeper.renew()  # due, and still held
    age_lease(engine, record_id, 60)
    claim_record(sql_units(engine), record_id, "run-b", lease_seconds=30)
    clock[0] = 12.0
    with pytest.raises(RecordBusyError, match="lost its writer lease"):
        keeper.renew()
    release_record(sql_units(engine), record_id, "run-a")  # not the holder: no effect
    assert holder(engine, record_id) == "run-b"
    release_record(sql_units(engine), record_id, "run-b")
    assert holder(engine, record_id) is None


def test_a_waiting_run_gets_the_record_once_the_holder_stops_renewing(engine, monkeypatch):
    monkeypatch.setattr(writer_lease, "WAIT_POLL_SECONDS", 0.05)
    record_id = a_record(engine)
    claim_record(sql_units(engine), record_id, "run-a", lease_seconds=0.5)
    waited = []
    wait_and_claim(sql_units(engine), record_id, "run-b", lease_seconds=0.5, on_wait=waited.append)
    assert holder(engine, record_id) == "run-b"
    assert waited and "being written by run run-a" in waited[0]


@pytest.mark.postgres
def test_a_second_run_while_the_first_writes_fails_without_writing(
    pg_engine, postgres_url, monkeypatch, tmp_path
):
    # Above the batch workers' progress tick (`batch_workers.WAIT_TICK_SECONDS`, 1 s), at
    # which a batch step renews its lease: a 1 s lease could go stale between two ticks
    # on a slow machine, and the second run then took it over.
    monkeypatch.setenv("IMPORT_PIPELINE_WRITER_LEASE_SECONDS", "3")
    get_settings.cache_clear()
    source = generate(tmp_path / "long.jsonl", 40_000, seed=3)  # the first run takes a while
    record = uuid.UUID(
        str(
            register_import(
                sql_units(pg_engine),
                ImportRecord(source_name="two", processor_name="p", processor_version="1"),
                [str(source)],
            )[0].id
        )
    )
    outcome = {}
    try:
        with instance_for_test() as instance:
            first = threading.Thread(
                target=lambda: outcome.setdefault(
                    "first", execute(postgres_url, instance, record, chunk_size=20)
                )
            )
            first.start()
            wait_for_results(pg_engine, 200)
            second = execute(postgres_url, instance, record, chunk_size=20, raise_on_error=False)
            first_was_writing = first.is_alive()
            first.join(300)
            batch_steps = [
                e
                for e in second.all_events
                if e.step_key and e.step_key.startswith("imported_references.process_import_batch")
            ]
            failure = next(
                e for e in second.all_events if e.event_type == DagsterEventType.STEP_FAILURE
            )
    finally:
        get_settings.cache_clear()
    assert first_was_writing, "the first run ended too soon for this test"
    assert outcome["first"].success
    assert not second.success
    assert failure.step_key == "imported_references.plan_import_batches"
    assert "is being written by run" in failure.step_failure_data.user_failure_data.description
    assert batch_steps == []  # the second run never reached a batch: it wrote nothing
    with repository(pg_engine) as imports:
        summary = summarise(imports, record)
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert summary.counts["completed"] + summary.counts["failed"] == non_blank_lines(source)
    assert holder(pg_engine, record) is None  # released by the first run's finalise
