"""The deduplication step in the real import job: its own step, its metadata, its decisions.

Two records run through `import_references` on PostgreSQL: the second one's copy of a
paper (exported without its DOI) is decided a duplicate of the first's by the step
`deduplicate_record`, which runs after the batches and before finalise. The step is
retried on a transient fault like the batch step (one helper decides for both).
"""

import threading
import time

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, instance_for_test

from import_pipeline.services.batches import process_batch
from import_pipeline.services.planning import start_and_plan
from import_pipeline.store.tables import dedup_decision
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.bibliographic import paper, write_papers
from import_pipeline_tests.integration.test_import_job import register, run_job
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres

TITLE = "Efficacy of batroxobin for vascular cognitive impairment"


def test_the_job_decides_new_references_in_a_step_of_its_own(pg_engine, postgres_url, tmp_path):
    first = register(pg_engine, write_papers(tmp_path / "a.jsonl", [paper(TITLE, doi="10.1000/a")]))
    second = register(
        pg_engine,
        write_papers(
            tmp_path / "b.jsonl",
            [paper(TITLE + " [Chinese]", other="embase"), paper("Unrelated", other="u")],
        ),
    )
    on = {"deduplicate": True}
    with instance_for_test() as instance:
        assert run_job(postgres_url, instance, first, step_settings=on).success
        result = run_job(postgres_url, instance, second, step_settings=on)
    assert result.success
    steps = [event.step_key for event in result.all_events if event.is_step_success]
    assert steps.index("imported_references.deduplicate_record") < steps.index(
        "imported_references.finalise_import_record"
    )
    [output] = [
        event
        for event in result.all_events
        if event.is_successful_output and event.step_key == "imported_references.deduplicate_record"
    ]
    metadata = output.event_specific_data.metadata
    assert metadata["references"].value == 2
    assert metadata["decisions_duplicate"].value == 1
    assert metadata["decisions_canonical"].value == 1
    assert metadata["decisions_unresolved"].value == 0
    assert metadata["references_per_second"].value > 0
    assert 0 < metadata["index_pass_seconds"].value <= metadata["seconds"].value
    with repository(pg_engine) as imports:
        [held] = imports.list_results(record_id=first)
        copy, _ = imports.list_results(record_id=second)
    with sql_units(pg_engine)() as uow:
        decision = uow.dedup.decisions_of([copy.reference_id])[copy.reference_id]
    assert decision.duplicate_of == held.reference_id


def test_with_the_setting_off_the_step_decides_nothing(pg_engine, postgres_url, tmp_path):
    record = register(pg_engine, write_papers(tmp_path / "a.jsonl", [paper(TITLE)]))
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, record)  # the default: off
    assert result.success
    [output] = [
        event
        for event in result.all_events
        if event.is_successful_output and event.step_key == "imported_references.deduplicate_record"
    ]
    assert output.event_specific_data.metadata["deduplication"].value == "off"
    with repository(pg_engine) as imports:
        [line] = imports.list_results(record_id=record)
    with sql_units(pg_engine)() as uow:
        assert uow.dedup.decisions_of([line.reference_id]) == {}


class LockThenTerminate(threading.Thread):
    """Holds a reference's decision row, terminates the backend that waits on it, lets go.

    A real transient fault of the step: its connection is closed by the server
    (`pg_terminate_backend`) while it waits on a row lock another transaction holds.
    """

    def __init__(self, engine, reference_id):
        super().__init__(daemon=True)
        self.engine = engine
        self.reference_id = reference_id
        self.holding = threading.Event()
        self.terminated = 0
        self.error = None

    def run(self):
        try:
            with self.engine.begin() as connection:
                pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
                connection.execute(
                    sa.select(dedup_decision.c.reference_id)
                    .where(dedup_decision.c.reference_id == self.reference_id)
                    .with_for_update()
                ).one()
                self.holding.set()
                # Watched from another connection: a transaction sees one snapshot of
                # pg_stat_activity, taken when it first reads it.
                with self.engine.connect() as probe:
                    deadline = time.monotonic() + 60
                    while not self.terminated and time.monotonic() < deadline:
                        self.terminated = probe.exec_driver_sql(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE wait_event_type = 'Lock' AND datname = current_database() "
                            f"AND pid <> {pid}"
                        ).scalar()
                        probe.commit()
                        time.sleep(0.02)
        except BaseException as error:
            self.error = error


def test_a_connection_lost_in_the_step_is_retried_and_the_retry_decides(
    pg_engine, postgres_url, tmp_path
):
    source = write_papers(tmp_path / "a.jsonl", [paper(TITLE), paper("Unrelated", other="u")])
    record = register(pg_engine, source)
    units = sql_units(pg_engine)
    for batch_id in start_and_plan(units, record, 1_000):  # the batches done, the record open
        process_batch(units, batch_id, chunk_size=100)
    with repository(pg_engine) as imports:
        held, other = (line.reference_id for line in imports.list_results(record_id=record))
    with units() as uow:
        uow.dedup.mark_pending([held], record)
        uow.commit()
    blocker = LockThenTerminate(pg_engine, held)
    blocker.start()
    assert blocker.holding.wait(30), blocker.error
    settings = {"deduplicate": True, "retries": 3, "retry_delay_seconds": 0.1}
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, record, step_settings=settings)
    blocker.join(60)
    assert blocker.error is None
    assert blocker.terminated == 1
    assert result.success
    events = [
        event.event_type
        for event in result.all_events
        if event.step_key == "imported_references.deduplicate_record"
    ]
    assert DagsterEventType.STEP_UP_FOR_RETRY in events
    with units() as uow:
        decisions = uow.dedup.decisions_of([held, other])
    assert {decision.determination for decision in decisions.values()} == {"canonical"}
