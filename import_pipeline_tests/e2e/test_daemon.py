"""The real `dagster-daemon run`: a file dropped in the landing directory gets imported.

Starts the daemon on a temporary DAGSTER_HOME (the project's dagster.yaml) and landing
directory, drops a real file, and waits (bounded) until its record is completed with one
result per line. The daemon is stopped whatever happens.
"""

import shutil
import subprocess
import time

import pytest

from import_pipeline.store.engine import create_db_engine
from import_pipeline_tests.data_files import non_blank_lines, plain_copy, real_file
from import_pipeline_tests.processes import BIN, isolated_env, log_tail, started
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.slow


def test_daemon_imports_a_dropped_file(tmp_path):
    landing, data = tmp_path / "landing", tmp_path / "data"
    for directory in (landing, data):
        directory.mkdir()
    env = isolated_env(
        tmp_path,
        IMPORT_PIPELINE_DATA_DIR=str(data),
        IMPORT_PIPELINE_LANDING_DIR=str(landing),
        IMPORT_PIPELINE_LANDING_SETTLE_SECONDS="1",
    )
    source = plain_copy(real_file("synergy_Sep_2021.jsonl.gz"))  # lands as plain .jsonl
    subprocess.run(
        [str(BIN / "import-pipeline"), "db", "upgrade"], env=env, check=True, capture_output=True
    )
    log = tmp_path / "daemon.log"
    engine = create_db_engine(f"sqlite:///{data / 'import_pipeline.sqlite'}")
    with started(
        ["dagster-daemon", "run", "-m", "import_pipeline.definitions"], env, log
    ) as daemon:
        try:
            shutil.copyfile(source, landing / "sep.jsonl.part")
            (landing / "sep.jsonl.part").rename(landing / "sep.jsonl")  # complete at once
            deadline = time.monotonic() + 240
            summary = None
            while time.monotonic() < deadline and summary is None:
                time.sleep(1)
                with repository(engine) as imports:
                    records = imports.list_records()
                    if records and records[0].status == "completed":
                        summary = (records, imports.count_results(record_id=records[0].id))
            assert daemon.poll() is None, log_tail(log)
            assert summary is not None, "no completed record in time:\n" + log_tail(log)
        finally:
            engine.dispose()
    records, counts = summary
    assert len(records) == 1 and records[0].source_name == "sep"
    assert counts["completed"] == non_blank_lines(source) == 271
