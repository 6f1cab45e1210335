"""Terminate, as the UI does it, stops a run that the daemon launched, and a re-run finishes.

The real `dagster-daemon run` imports a file dropped in the landing directory; once the
batch is writing, the run is terminated through the instance's run launcher (which
interrupts the run's process, the path the UI's Terminate button takes). The run must
end `CANCELED` within seconds, not be retried, write nothing more, and leave its record
`started` for `import-pipeline rerun` to finish with one result per line.
"""

import time

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from benchmarks.generate import generate
from import_pipeline.store.tables import import_record
from import_pipeline_tests.e2e.test_process_faults import (
    rerun_finishes_the_record,
    results_written,
    wait_for_results,
)
from import_pipeline_tests.processes import isolated_env, log_tail, started

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_terminating_a_daemon_run_stops_it_and_a_rerun_finishes(pg_engine, postgres_url, tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    env = isolated_env(
        tmp_path,
        IMPORT_PIPELINE_DATABASE_URL=postgres_url,
        IMPORT_PIPELINE_LANDING_DIR=str(landing),
        IMPORT_PIPELINE_LANDING_SETTLE_SECONDS="1",
        IMPORT_PIPELINE_CHUNK_SIZE="200",
        IMPORT_PIPELINE_BATCH_WORKERS="1",
    )
    source = generate(tmp_path / "big.jsonl", 24_000, seed=5)
    log = tmp_path / "daemon.log"
    with started(["dagster-daemon", "run", "-m", "import_pipeline.definitions"], env, log):
        (landing / "big.jsonl").symlink_to(source)
        wait_for_results(pg_engine, 1000, timeout=180)
        with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            [run] = instance.get_runs()
            asked = time.monotonic()
            assert instance.run_launcher.terminate(run.run_id), log_tail(log)
            deadline = asked + 30
            while time.monotonic() < deadline:
                status = instance.get_run_by_id(run.run_id).status
                if status in {DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE}:
                    break
                time.sleep(0.2)
            stopped_after = time.monotonic() - asked
            retried = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
        left = results_written(pg_engine)
        time.sleep(2)
        assert results_written(pg_engine) == left, "the terminated run still writes"
    assert status == DagsterRunStatus.CANCELED, log_tail(log)
    assert stopped_after < 20, f"took {stopped_after:.1f} s to stop"
    assert retried == [], "an interrupt must not be retried"
    assert left < 24_000
    with pg_engine.connect() as connection:
        assert connection.execute(sa.select(import_record.c.status)).scalar_one() == "started"
    rerun_finishes_the_record(pg_engine, env, source)
