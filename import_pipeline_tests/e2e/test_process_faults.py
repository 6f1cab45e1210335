"""Process faults cost nothing a re-run cannot finish: real processes, real PostgreSQL.

- a batch worker process SIGKILLed mid-batch: the batch's own retry finishes it;
- the `import` process SIGKILLed mid-batch: its worker processes die with it (none
  writes afterwards), and `import-pipeline rerun` finishes the record;
- a database outage longer than the retry budget: the run fails, its lines are left
  `retrying` or unwritten (never `failed`), the record `started`; a re-run finishes it;
- a run terminated through the Dagster instance stops within seconds, writes nothing
  more, and a re-run finishes the record.
Afterwards every line has exactly one terminal result.
"""

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, instance_for_test

from benchmarks.generate import generate
from import_pipeline.definitions import build_definitions
from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION
from import_pipeline.orchestration.run_config import run_config
from import_pipeline.services import batches
from import_pipeline.services.finalise import summarise
from import_pipeline.store.tables import import_record, import_result
from import_pipeline_tests.data_files import non_blank_lines, real_file
from import_pipeline_tests.e2e.test_concurrency import CLI, assert_consistent, env_for
from import_pipeline_tests.integration.test_import_job import register
from import_pipeline_tests.store_access import repository

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def results_written(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(import_result)).scalar()


def results_once_quiet(engine, seconds=1.5):
    """The results written so far, after checking that nothing writes any more."""
    left = results_written(engine)
    time.sleep(seconds)
    assert results_written(engine) == left, "something still writes"
    return left


def wait_for_results(engine, at_least, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if results_written(engine) >= at_least:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} results after {timeout} s")


def live_processes():
    """(pid, parent pid, session id, command line) of every live process, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:  # gone meanwhile
            continue
        if fields[0] != "Z":
            yield int(entry.name), int(fields[1]), int(fields[3]), command


def batch_workers_of(pid):
    """Pids of the live batch workers of `pid`: the children of its multiprocessing forkserver.

    Batch workers are forked by a forkserver that `pid` started (`batch_workers`); a
    worker carries the forkserver's command line, so it is told apart by its parent.
    """
    processes = list(live_processes())
    servers = {
        child
        for child, parent, _, command in processes
        if parent == pid and b"multiprocessing.forkserver" in command
    }
    return [child for child, parent, _, _ in processes if parent in servers]


def session_members(session_id):
    """Pids of the live processes in session `session_id`."""
    return [pid for pid, _, session, _ in live_processes() if session == session_id]


def rerun_finishes_the_record(engine, env, source):
    """`import-pipeline rerun` of the database's one record completes it, one result a line."""
    with engine.connect() as connection:
        [record_id] = connection.execute(sa.select(import_record.c.id)).scalars().all()
    rerun = subprocess.run(
        [*CLI, "rerun", str(record_id), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    record = json.loads(rerun.stdout)
    assert record["status"] == "completed"
    assert record["results"]["completed"] + record["results"]["failed"] == non_blank_lines(source)
    assert_consistent(engine)


def wait_until_gone(session_id, timeout=10):
    """The session's live processes once none is left, or after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while session_members(session_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    return session_members(session_id)


def execute(url, instance, record_id, *, chunk_size, retries=8, delay=0.1, **kwargs):
    """Run the import job for the record in this process, with a quick retry budget."""
    key = str(record_id)
    if not instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key):
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
    config = run_config(50_000, chunk_size)
    config["resources"] = {
        "step_settings": {"config": {"retries": retries, "retry_delay_seconds": delay}}
    }
    job = build_definitions(url).resolve_job_def("import_references")
    return job.execute_in_process(run_config=config, instance=instance, partition_key=key, **kwargs)


def test_a_killed_batch_worker_is_retried_by_the_run_itself(pg_engine, postgres_url, monkeypatch):
    monkeypatch.setattr(batches, "MIN_LINES_PER_WORKER", 100)
    source = real_file("bib_dedupe_digital_work.jsonl.gz")
    record_id = register(pg_engine, source)
    killed = []

    def kill_one_worker():
        wait_for_results(pg_engine, 200)
        workers = batch_workers_of(os.getpid())
        if workers:
            os.kill(workers[0], signal.SIGKILL)
            killed.append(workers[0])

    killer = threading.Thread(target=kill_one_worker, daemon=True)
    killer.start()
    with instance_for_test() as instance:
        result = execute(postgres_url, instance, record_id, chunk_size=50)
        retries = instance.all_logs(result.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
    killer.join(60)
    assert killed, "no worker process to kill"
    assert result.success
    reasons = [str(entry.dagster_event.event_specific_data.error) for entry in retries]
    assert any("died (exit code -9)" in reason for reason in reasons), reasons
    with repository(pg_engine) as imports:
        summary = summarise(imports, record_id)
    assert summary.record.status == ImportRecordStatus.COMPLETED
    settled = summary.counts["completed"] + summary.counts["failed"]
    assert settled == non_blank_lines(source)
    assert_consistent(pg_engine)


def test_a_killed_import_takes_its_workers_with_it_and_rerun_finishes(
    pg_engine, postgres_url, tmp_path
):
    total = 24_000  # one batch, shared out to 2 worker processes (10,000+ lines each)
    source = generate(tmp_path / "big.jsonl", total, seed=7)
    env = env_for(
        tmp_path,
        "killed",
        postgres_url,
        IMPORT_PIPELINE_CHUNK_SIZE="200",
        IMPORT_PIPELINE_BATCH_WORKERS="2",
        # The killed run's lease goes stale this soon, so the rerun need not wait long.
        IMPORT_PIPELINE_WRITER_LEASE_SECONDS="3",
    )
    process = subprocess.Popen(
        [*CLI, "import", str(source), "--source-name", "killed"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_for_results(pg_engine, 1000)
    assert session_members(process.pid), "the import is not running"
    os.kill(process.pid, signal.SIGKILL)  # the import only: its workers must follow
    process.wait(30)
    assert wait_until_gone(process.pid) == [], "worker processes outlived the import"
    assert results_once_quiet(pg_engine) < non_blank_lines(source), "the kill must land mid-batch"

    rerun_finishes_the_record(pg_engine, env, source)


class Outage(threading.Thread):
    """Terminates every other connection to the database, again and again, for a while."""

    def __init__(self, url, seconds):
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
        self.seconds = seconds
        self.started = threading.Event()
        self.terminated = 0

    def run(self):
        with self.engine.connect() as connection:
            self.started.set()
            deadline = time.monotonic() + self.seconds
            while time.monotonic() < deadline:
                self.terminated += connection.exec_driver_sql(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).scalar()
                time.sleep(0.02)
        self.engine.dispose()


def test_an_outage_longer_than_the_budget_fails_the_run_and_a_rerun_finishes(
    pg_engine, postgres_url
):
    source = real_file("bib_dedupe_digital_work.jsonl.gz")
    record_id = register(pg_engine, source)
    outage = Outage(postgres_url, seconds=8)  # the budget: about 0.2 + 0.4 s of waiting

    def start_outage():
        wait_for_results(pg_engine, 300)
        outage.start()

    starter = threading.Thread(target=start_outage, daemon=True)
    starter.start()
    with instance_for_test() as instance:
        first = execute(
            postgres_url,
            instance,
            record_id,
            chunk_size=100,
            retries=2,
            delay=0.2,
            raise_on_error=False,
        )
        starter.join(60)
        outage.join(30)
        assert outage.terminated > 0
        assert not first.success
        failure = next(e for e in first.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
        message = failure.step_failure_data.user_failure_data.description
        assert "gave up after 2 retries" in message
        with repository(pg_engine) as imports:
            summary = summarise(imports, record_id)
            statuses = imports.count_results(record_id=record_id)
        assert summary.record.status == ImportRecordStatus.STARTED
        assert statuses["completed"] + statuses["failed"] < non_blank_lines(source)
        failed = [r for r in imports_failed(pg_engine, record_id) if "Entry" in r]
        assert not any("retrying" in r or "Connection" in r for r in failed)

        second = execute(postgres_url, instance, record_id, chunk_size=100)
    assert second.success
    with repository(pg_engine) as imports:
        summary = summarise(imports, record_id)
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert summary.counts["completed"] + summary.counts["failed"] == non_blank_lines(source)
    assert summary.counts["retrying"] == 0
    assert_consistent(pg_engine)


def imports_failed(engine, record_id):
    with repository(engine) as imports:
        return [
            r.failure_details or ""
            for r in imports.list_results(record_id=record_id, status="failed")
        ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_terminate_stops_the_run_within_seconds_and_a_rerun_finishes(
    pg_engine, postgres_url, tmp_path, workers
):
    # Two worker processes write fast: give them enough lines that the run cannot end
    # before its termination is noticed (a check every 2 s), even on a busy machine.
    total = 24_000 if workers == "1" else 60_000
    source = generate(tmp_path / "big.jsonl", total, seed=11)
    env = env_for(
        tmp_path,
        "terminated",
        postgres_url,
        IMPORT_PIPELINE_CHUNK_SIZE="200",
        IMPORT_PIPELINE_BATCH_WORKERS=workers,
    )
    process = subprocess.Popen(
        [*CLI, "import", str(source), "--source-name", "terminated"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_for_results(pg_engine, 1000)
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    try:
        with DagsterInstance.get() as instance:
            [run] = instance.get_runs()
            asked = time.monotonic()
            instance.run_launcher.terminate(run.run_id)  # no process to signal: CANCELING
            _, stderr = process.communicate(timeout=60)
            stopped_after = time.monotonic() - asked
            status = instance.get_run_by_id(run.run_id).status
    finally:
        del os.environ["DAGSTER_HOME"]
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop"
    assert status == DagsterRunStatus.CANCELED
    assert process.returncode == 1, stderr
    assert "is left started" in stderr and "rerun" in stderr
    assert wait_until_gone(process.pid) == []
    assert results_once_quiet(pg_engine) < total

    rerun_finishes_the_record(pg_engine, env, source)
