"""The real `dagster-daemon run`: a file dropped in the landing directory gets imported.

Starts the daemon on a temporary DAGSTER_HOME (the project's dagster.yaml) and landing
directory, drops a real file, and waits (bounded) until its record is completed with one
result per line. The daemon is stopped whatever happens.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.imports import unit_of_work
from import_pipeline_tests.conftest import REAL_DATA, non_blank_lines

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_daemon_imports_a_dropped_file(tmp_path):
    home, landing, data = tmp_path / "dagster_home", tmp_path / "landing", tmp_path / "data"
    for directory in (home, landing, data):
        directory.mkdir()
    shutil.copyfile(
        ROOT / "import_pipeline" / "orchestration" / "dagster.yaml", home / "dagster.yaml"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    env |= {
        "DAGSTER_HOME": str(home),
        "IMPORT_PIPELINE_DATA_DIR": str(data),
        "IMPORT_PIPELINE_LANDING_DIR": str(landing),
        "IMPORT_PIPELINE_LANDING_SETTLE_SECONDS": "1",
    }
    source = REAL_DATA / "synergy_Sep_2021.jsonl"
    subprocess.run(
        [str(Path(sys.executable).parent / "import-pipeline"), "db", "upgrade"],
        env=env,
        check=True,
        capture_output=True,
    )
    daemon = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster-daemon"),
            "run",
            "-m",
            "import_pipeline.definitions",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "daemon.log").open("w"),
        start_new_session=True,
    )
    engine = create_db_engine(f"sqlite:///{data / 'import_pipeline.sqlite'}")
    try:
        shutil.copyfile(source, landing / "sep.jsonl.part")
        (landing / "sep.jsonl.part").rename(landing / "sep.jsonl")  # appears complete at once
        deadline = time.monotonic() + 240
        summary = None
        while time.monotonic() < deadline:
            time.sleep(1)
            if not (data / "import_pipeline.sqlite").exists():
                continue
            try:
                with unit_of_work(engine) as imports:
                    records = imports.list_records()
                    if records and records[0].status == "completed":
                        summary = (records, imports.count_results(record_id=records[0].id))
                        break
            except Exception:  # the tables may not exist yet  # noqa: S112
                continue
        assert daemon.poll() is None, (tmp_path / "daemon.log").read_text()[-3000:]
        assert summary is not None, (
            "no completed record in time:\n" + (tmp_path / "daemon.log").read_text()[-3000:]
        )
        records, counts = summary
        assert len(records) == 1 and records[0].source_name == "sep"
        assert counts["completed"] == non_blank_lines(source) == 271
    finally:
        engine.dispose()
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(10)
