"""Imports whose steps run on real celery workers, over the local RabbitMQ.

Each worker is an `import-pipeline worker` process with none of our settings but the
celery ones and no DAGSTER_HOME: what a step needs reaches it through the run's config
and the instance reference, as on another machine. What is checked:
- the celery import of a real file equals an in-process import of it into another
  database, row by row (ids and times aside), and its steps ran on the worker;
- a batch step that meets a real deadlock is retried, on the worker;
- a worker SIGKILLed mid-batch: its step goes back to the queue and a new worker runs it;
  the run completes with exactly one result per line;
- a worker SIGKILLed with none to replace it: the run fails within the bounded wait,
  naming the step; `import-pipeline rerun` with a worker back finishes the record.
"""

import json
import os
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType

from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.orchestration.launch import RunOutcome, run_import_job
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.tables import (
    enhancement,
    external_identifier,
    import_batch,
    import_record,
    import_result,
    reference,
)
from import_pipeline_tests.data_files import non_blank_lines, real_file
from import_pipeline_tests.distributed.conftest import BACKEND
from import_pipeline_tests.e2e.test_concurrency import assert_consistent
from import_pipeline_tests.integration.test_import_job import register
from import_pipeline_tests.integration.test_retries import Blocker

pytestmark = [pytest.mark.distributed, pytest.mark.postgres]

BATCH_STEP = "imported_references.process_import_batch"


def on_celery(broker, queue, lost_step_seconds=30.0):
    return {
        "celery": {
            "broker": broker,
            "backend": BACKEND,
            "queue": queue,
            "lost_step_seconds": lost_step_seconds,
        }
    }


def launch(url, instance, record_id, executor, batch_size=50_000, chunk_size=500) -> RunOutcome:
    return run_import_job(
        record_id,
        instance,
        source_name="tests",
        database_url=url,
        batch_size=batch_size,
        chunk_size=chunk_size,
        concurrency=1,
        executor=executor,
    )


def steps_on_workers(instance, run_id):
    """(step key, worker) of every step a celery worker began, in order."""
    found = []
    for entry in instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
        metadata = entry.dagster_event.event_specific_data.metadata
        if "Celery worker" in metadata:
            found.append((entry.step_key, metadata["Celery worker"].value))
    return found


def event_types(instance, run_id, step_prefix):
    return [
        entry.dagster_event.event_type
        for entry in instance.all_logs(run_id)
        if entry.dagster_event and (entry.step_key or "").startswith(step_prefix)
    ]


def canonical_rows(url):
    """Every import and reference row, ids and times replaced by what they stand for.

    A reference stands for its sorted identifier keys, a record for its source name, a
    batch for its storage URL and line range; timestamps and the writer lease go.
    """
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            keys: dict[object, list[str]] = {}
            for key, owner in connection.execute(
                sa.select(external_identifier.c.identifier_key, external_identifier.c.reference_id)
            ):
                keys.setdefault(owner, []).append(key)
            names = {
                "reference_id": {owner: tuple(sorted(k)) for owner, k in keys.items()},
                "import_record_id": {
                    row.id: row.source_name for row in connection.execute(sa.select(import_record))
                },
                "import_batch_id": {
                    row.id: (row.storage_url, row.line_start, row.line_end)
                    for row in connection.execute(sa.select(import_batch))
                },
            }
            names["id"] = names["reference_id"]  # a reference row's own id
            dump = {}
            for table in (import_record, import_batch, import_result, reference, enhancement):
                rows = []
                for row in connection.execute(sa.select(table)).mappings():
                    kept = {}
                    for column, value in row.items():
                        if column.endswith("_at") or column.startswith("writer_"):
                            continue
                        if column == "id" and table is not reference:
                            continue
                        kept[column] = names[column].get(value) if column in names else value
                    rows.append(json.dumps(kept, sort_keys=True, default=str))
                dump[table.name] = sorted(rows)
            dump["external_identifier"] = sorted(
                json.dumps(
                    {**row, "reference_id": names["reference_id"][row["reference_id"]]},
                    sort_keys=True,
                    default=str,
                )
                for row in connection.execute(sa.select(external_identifier)).mappings()
            )
            return dump
    finally:
        engine.dispose()


def record_status(url, record_id):
    engine = create_db_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.select(import_record.c.status).where(import_record.c.id == record_id)
            ).scalar_one()
    finally:
        engine.dispose()


def results_written(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(import_result)).scalar()


class Launched(threading.Thread):
    """An import run on the workers, launched from a thread so the test can act meanwhile."""

    def __init__(self, *args, **kwargs):
        super().__init__(daemon=True)
        self._args, self._kwargs = args, kwargs
        self.outcome: RunOutcome | None = None
        self.finished_at: float | None = None
        self.error: BaseException | None = None

    def run(self):
        try:
            self.outcome = launch(*self._args, **self._kwargs)
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self.finished_at = time.monotonic()


def kill_mid_batch(worker, engine, total, timeout=60.0):
    """SIGKILL `worker` once its batch has written some results but not all."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        written = results_written(engine)
        if written >= total:
            raise AssertionError("the batch finished before the worker could be killed")
        if written >= 200:
            worker.kill()
            return written
        time.sleep(0.02)
    raise AssertionError(f"no results after {timeout} s")


def test_a_celery_import_equals_an_in_process_one_row_by_row(
    workers, broker, queue, instance, pg_engine, postgres_url, other_postgres_url
):
    worker = workers.running()
    source = real_file("bib_dedupe_cytology_screening.jsonl.gz")  # 1,856 lines, duplicates
    on_workers = register(pg_engine, source)
    twin_engine = create_db_engine(other_postgres_url)
    in_process = register(twin_engine, source)
    twin_engine.dispose()

    celery_run = launch(postgres_url, instance, on_workers, on_celery(broker, queue), 700)
    local_run = launch(other_postgres_url, instance, in_process, {"in_process": {}}, 700)

    assert celery_run.success, celery_run.failure
    assert local_run.success, local_run.failure
    celery_rows, local_rows = canonical_rows(postgres_url), canonical_rows(other_postgres_url)
    assert len(celery_rows["import_result"]) == non_blank_lines(source) == 1856
    assert len(celery_rows["import_batch"]) == 3
    assert celery_rows["reference"]  # something to compare
    for table, rows in local_rows.items():
        assert celery_rows[table] == rows, table
    assert record_status(postgres_url, on_workers) == ImportRecordStatus.COMPLETED
    ran = steps_on_workers(instance, celery_run.run_id)
    assert sum(step.startswith(BATCH_STEP) for step, _ in ran) == 3
    assert {host.split("@")[0] for _, host in ran} == {worker.name.split("@")[0]}
    assert steps_on_workers(instance, local_run.run_id) == []


def test_a_transient_fault_is_retried_on_the_worker(
    workers, broker, queue, instance, pg_engine, postgres_url, tmp_path
):
    workers.running()
    source = tmp_path / "one.jsonl"
    identifiers = [{"identifier_type": "pm_id", "identifier": n} for n in (1, 2)]
    source.write_text(json.dumps({"identifiers": identifiers}) + "\n")
    record_id = register(pg_engine, source)
    blocker = Blocker(pg_engine)  # a real deadlock with the batch's transaction
    blocker.start()
    assert blocker.holding.wait(10)

    outcome = launch(postgres_url, instance, record_id, on_celery(broker, queue))
    blocker.join(30)

    assert blocker.error is None, blocker.error
    assert outcome.success, outcome.failure
    events = event_types(instance, outcome.run_id, BATCH_STEP)
    assert DagsterEventType.STEP_UP_FOR_RETRY in events
    assert DagsterEventType.STEP_RESTARTED in events
    batch_attempts = [
        s for s, _ in steps_on_workers(instance, outcome.run_id) if s.startswith(BATCH_STEP)
    ]
    assert len(batch_attempts) == 2  # the first try and its retry, each a task on the worker
    assert blocker.retrying_details[0].startswith("Entry 1: retrying after DeadlockDetected")
    assert record_status(postgres_url, record_id) == ImportRecordStatus.COMPLETED


def test_a_worker_killed_mid_batch_hands_its_step_to_the_next_worker(
    workers, broker, queue, instance, pg_engine, postgres_url
):
    first = workers.running()
    source = real_file("bib_dedupe_digital_work.jsonl.gz")  # 7,159 lines in one batch
    lines = non_blank_lines(source)
    record_id = register(pg_engine, source)
    run = Launched(postgres_url, instance, record_id, on_celery(broker, queue), chunk_size=50)
    run.start()
    kill_mid_batch(first, pg_engine, lines)
    second = workers.start()  # a supervisor restarting it, or another machine's worker
    run.join(120)

    assert run.error is None, run.error
    assert run.outcome is not None and run.outcome.success, run.outcome
    assert record_status(postgres_url, record_id) == ImportRecordStatus.COMPLETED
    assert results_written(pg_engine) == lines
    assert_consistent(pg_engine)
    batch_hosts = [
        host.split("@")[0]
        for step, host in steps_on_workers(instance, run.outcome.run_id)
        if step.startswith(BATCH_STEP)
    ]
    assert batch_hosts == [first.name.split("@")[0], second.name.split("@")[0]]


def test_a_run_whose_worker_is_gone_fails_within_the_wait_and_rerun_finishes_it(
    workers, broker, queue, instance, dagster_home, pg_engine, postgres_url
):
    worker = workers.running()
    source = real_file("bib_dedupe_digital_work.jsonl.gz")
    lines = non_blank_lines(source)
    record_id = register(pg_engine, source)
    wait = 8.0
    run = Launched(postgres_url, instance, record_id, on_celery(broker, queue, wait), chunk_size=50)
    run.start()
    kill_mid_batch(worker, pg_engine, lines)
    killed_at = time.monotonic()
    run.join(60)

    assert run.error is None, run.error
    assert run.outcome is not None and not run.outcome.success
    assert run.finished_at - killed_at < wait + 6  # the wait, a poll, a second of slack
    assert f"step {BATCH_STEP}[" in run.outcome.failure
    assert "no celery worker has served queue" in run.outcome.failure
    assert record_status(postgres_url, record_id) == ImportRecordStatus.STARTED

    workers.start()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    } | {
        "DAGSTER_HOME": str(dagster_home),
        "IMPORT_PIPELINE_DATABASE_URL": postgres_url,
        "IMPORT_PIPELINE_EXECUTOR": "celery",
        "IMPORT_PIPELINE_CELERY_BROKER": broker,
        "IMPORT_PIPELINE_CELERY_QUEUE": queue,
        "IMPORT_PIPELINE_CELERY_LOST_STEP_SECONDS": "30",
    }
    rerun = subprocess.run(
        [sys.executable, "-m", "import_pipeline.cli", "rerun", str(record_id), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads(rerun.stdout)["status"] == "completed"
    assert results_written(pg_engine) == lines
    assert_consistent(pg_engine)
    [latest] = instance.get_runs(limit=1)
    assert any(step.startswith(BATCH_STEP) for step, _ in steps_on_workers(instance, latest.run_id))
