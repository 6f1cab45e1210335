"""Dagster's own CLI against the code location, as a data engineer uses it without the UI.

`import-pipeline register` creates a record and its partition; `dagster job execute`
runs it with a config file; `dagster job backfill` re-processes chosen or all records;
the list commands show the job, sensors and schedule. Real subprocesses, a temporary
DAGSTER_HOME with the project's dagster.yaml, and a SQLite store.
"""

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from dagster import DagsterInstance
from dagster._core.instance.ref import InstanceRef

from import_pipeline.store.engine import create_db_engine
from import_pipeline_tests.data_files import sdk_sample
from import_pipeline_tests.processes import BIN, ROOT, isolated_env
from import_pipeline_tests.store_access import repository

RUN_CONFIG = ROOT / "examples" / "import_job.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path):
    return isolated_env(tmp_path, IMPORT_PIPELINE_DATA_DIR=str(tmp_path / "data"))


def run(args, env, check=True, timeout=300):
    completed = subprocess.run(
        args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if check and completed.returncode != 0:
        raise AssertionError(
            f"{args} exit {completed.returncode}\n{completed.stdout[-2000:]}\n{completed.stderr[-3000:]}"
        )
    return completed


def register(env, sample):
    out = run(
        [
            str(BIN / "import-pipeline"),
            "register",
            str(sdk_sample(sample)),
            "--source-name",
            sample,
        ],
        env,
    )
    return out.stdout.strip()


def status(env, record_id):
    return json.loads(
        run([str(BIN / "import-pipeline"), "status", record_id, "--json"], env).stdout
    )


def wait_completed(env, record_ids, timeout=180):
    """Poll the store directly (a CLI call per poll would cost a second of start-up)."""
    engine = create_db_engine(
        f"sqlite:///{Path(env['IMPORT_PIPELINE_DATA_DIR']) / 'import_pipeline.sqlite'}"
    )
    deadline = time.monotonic() + timeout
    states: list[str] = []
    try:
        while time.monotonic() < deadline:
            with repository(engine) as imports:
                states = [str(imports.get_record(uuid.UUID(r)).status) for r in record_ids]
            if all(s == "completed" for s in states):
                return
            time.sleep(0.5)
    finally:
        engine.dispose()
    raise AssertionError(f"records not completed in {timeout}s: {states}")


def test_job_execute_imports_a_registered_record(env):
    record_id = register(env, "eppi_import.jsonl")
    run(
        [
            str(BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "import_pipeline.definitions",
            "-j",
            "import_references",
            "-c",
            str(RUN_CONFIG),
            "--tags",
            json.dumps({"dagster/partition": record_id}),
        ],
        env,
    )
    record = status(env, record_id)
    assert record["status"] == "completed"
    assert record["results"]["completed"] == 4


@pytest.mark.parametrize("key", ["not-a-record", "00000000-0000-4000-8000-000000000000", None])
def test_job_execute_with_a_wrong_record_is_a_clear_error(env, key):
    run([str(BIN / "import-pipeline"), "db", "upgrade"], env)
    args = [
        str(BIN / "dagster"),
        "job",
        "execute",
        "-m",
        "import_pipeline.definitions",
        "-j",
        "import_references",
        "-c",
        str(RUN_CONFIG),
    ]
    if key is not None:
        args += ["--tags", json.dumps({"dagster/partition": key})]
    completed = run(args, env, check=False)
    assert completed.returncode != 0
    expected = {
        "not-a-record": "partition key 'not-a-record' is neither an import record id (a UUID) nor a source",
        "00000000-0000-4000-8000-000000000000": "no import record with id 00000000-0000-4000-8000-000000000000",
        None: "the run has no partition",
    }[key]
    assert expected in completed.stdout + completed.stderr


def test_backfill_chosen_and_all_records(env):
    first = register(env, "eppi_import.jsonl")
    second = register(env, "eppi_import_with_raw.jsonl")
    run(
        [
            str(BIN / "dagster"),
            "job",
            "backfill",
            "-m",
            "import_pipeline.definitions",
            "-j",
            "import_references",
            "--partitions",
            first,
            "--noprompt",
        ],
        env,
    )
    wait_completed(env, [first])
    assert status(env, second)["status"] == "created"
    run(
        [
            str(BIN / "dagster"),
            "job",
            "backfill",
            "-m",
            "import_pipeline.definitions",
            "-j",
            "import_references",
            "--all",
            "--noprompt",
        ],
        env,
    )
    wait_completed(env, [first, second])
    # Re-processing the completed record wrote no second result for any line.
    assert status(env, first)["results"]["completed"] == 4
    # Every backfill run carries its record's id and source name as tags.
    with DagsterInstance.from_ref(InstanceRef.from_dir(env["DAGSTER_HOME"])) as instance:
        tags = [run.tags for run in instance.get_runs()]
    assert len(tags) == 3
    assert sorted(
        (t["import_pipeline/record_id"], t["import_pipeline/source"]) for t in tags
    ) == sorted(
        [
            (first, "eppi_import.jsonl"),
            (first, "eppi_import.jsonl"),
            (second, "eppi_import_with_raw.jsonl"),
        ]
    )


def test_list_commands_show_the_job_sensors_and_schedule(env):
    jobs = run(
        [str(BIN / "dagster"), "job", "list", "-m", "import_pipeline.definitions"], env
    ).stdout
    sensors = run(
        [str(BIN / "dagster"), "sensor", "list", "-m", "import_pipeline.definitions"], env
    ).stdout
    schedules = run(
        [str(BIN / "dagster"), "schedule", "list", "-m", "import_pipeline.definitions"], env
    ).stdout
    assert "import_references" in jobs
    assert "new_source_sensor" in sensors and "registered_batches_sensor" in sensors
    assert "scheduled_import" in schedules
