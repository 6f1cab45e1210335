"""The `import-pipeline` command as a user runs it: real subprocesses, real databases.

Runs go into a temporary DAGSTER_HOME, which must hold the run afterwards (so the UI
shows it).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance

from import_pipeline_tests.data_files import non_blank_lines, real_file, sdk_sample

CLI = [sys.executable, "-m", "import_pipeline.cli"]


def cli(*args, env, check=True):
    completed = subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=300)
    if check and completed.returncode != 0:
        raise AssertionError(f"exit {completed.returncode}\n{completed.stdout}\n{completed.stderr}")
    return completed


@pytest.fixture
def cli_env(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    env["IMPORT_PIPELINE_DATA_DIR"] = str(tmp_path / "data")
    return env


def test_demo_on_the_embedded_default(cli_env, tmp_path):
    completed = cli("demo", env=cli_env)
    out = completed.stdout
    assert "(demo): completed" in out
    assert "results: completed 45, partially_failed 1, failed 3" in out
    assert "references: 45 created, 1 matched" in out
    assert "Entry 47: unknown top-level fields ['enhancemnts']" in out
    assert (tmp_path / "data" / "import_pipeline.sqlite").exists()
    home = tmp_path / "data" / "dagster_home"
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            runs = instance.get_runs()
            assert len(runs) == 1 and runs[0].job_name == "import_references"
            assert runs[0].tags["import_pipeline/source"] == "demo"
    finally:
        del os.environ["DAGSTER_HOME"]


@pytest.mark.postgres
def test_import_status_results_on_postgres(cli_env, postgres_url, tmp_path):
    cli_env["IMPORT_PIPELINE_DATABASE_URL"] = postgres_url
    cli_env["DAGSTER_HOME"] = str(tmp_path / "dagster_home")
    Path(cli_env["DAGSTER_HOME"]).mkdir()
    source = real_file("bib_dedupe_pair_cases.jsonl.gz")  # imported as gzip
    sample = sdk_sample("eppi_import.jsonl")
    completed = cli(
        "import",
        str(source),
        str(sample),
        "--source-name",
        "bib-dedupe",
        "--batch-size",
        "20",
        "--json",
        env=cli_env,
    )
    record = json.loads(completed.stdout)
    assert record["status"] == "completed"
    assert record["source_name"] == "bib-dedupe"
    assert len(record["batches"]) == 4  # 50 lines in batches of 20, and the sample
    assert {b["status"] for b in record["batches"]} == {"completed"}
    total = non_blank_lines(source) + non_blank_lines(sample)
    assert record["results"]["completed"] == total

    status = json.loads(cli("status", record["id"], "--json", env=cli_env).stdout)
    assert status["id"] == record["id"]
    assert sum(b["results"]["completed"] for b in status["batches"]) == total
    text = cli("status", record["id"], env=cli_env).stdout
    assert f"import record {record['id']} (bib-dedupe): completed" in text

    results = json.loads(cli("results", record["id"], "--json", env=cli_env).stdout)
    assert len(results) == total
    assert {"import_batch_id", "line_number", "status", "reference_id", "failure_details"} <= set(
        results[0]
    )
    failed = json.loads(
        cli("results", record["id"], "--status", "failed", "--json", env=cli_env).stdout
    )
    assert failed == []


def test_errors_are_one_line_messages(cli_env, tmp_path):
    missing = cli(
        "import", str(tmp_path / "nope.jsonl"), "--source-name", "x", env=cli_env, check=False
    )
    assert missing.returncode != 0
    assert missing.stderr.strip() == f"Error: {tmp_path / 'nope.jsonl'}: no such file"

    bad_id = cli("status", "not-a-uuid", env=cli_env, check=False)
    assert bad_id.returncode != 0
    assert "'not-a-uuid' is not an import record id" in bad_id.stderr
    assert "Traceback" not in bad_id.stderr

    cli("db", "upgrade", env=cli_env)
    unknown = cli("results", "00000000-0000-4000-8000-000000000000", env=cli_env, check=False)
    assert unknown.returncode != 0
    assert "no import record with id 00000000-0000-4000-8000-000000000000" in unknown.stderr

    bad_url = cli(
        "db", "upgrade", env={**cli_env, "IMPORT_PIPELINE_DATABASE_URL": "mysql://x"}, check=False
    )
    assert bad_url.returncode != 0
    assert "unsupported database 'mysql'" in bad_url.stderr
    assert "Traceback" not in bad_url.stderr

    down = cli(
        "db",
        "upgrade",
        env={**cli_env, "IMPORT_PIPELINE_DATABASE_URL": "postgresql+psycopg://u@127.0.0.1:1/x"},
        check=False,
    )
    assert down.returncode != 0
    assert down.stderr.startswith("Error: cannot use the database:")
    assert len(down.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_public_address_without_tokens(cli_env):
    completed = cli("serve", "--host", "0.0.0.0", env=cli_env, check=False)  # noqa: S104
    assert completed.returncode != 0
    assert completed.stderr.strip().endswith(
        "refusing to serve on 0.0.0.0 without authentication: set "
        "IMPORT_PIPELINE_API_TOKENS, or serve on 127.0.0.1"
    )
    assert "Traceback" not in completed.stderr
