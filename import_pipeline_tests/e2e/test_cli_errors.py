"""Every mistake a user can make gives one line and exit status 2; a failed record exits 1.

Real subprocesses of `import-pipeline`, as a user runs it.
"""

import gzip
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from import_pipeline.domain.statuses import RunBy
from import_pipeline.store.engine import create_db_engine
from import_pipeline_tests.data_files import sdk_sample
from import_pipeline_tests.store_access import repository

CLI = [sys.executable, "-m", "import_pipeline.cli"]


def run(*args, env, timeout=300):
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def env(tmp_path):
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    return clean | {"IMPORT_PIPELINE_DATA_DIR": str(tmp_path / "data")}


def assert_one_line(completed, *fragments):
    """Exit 2, a single `Error: ...` line on stderr holding every fragment, no traceback."""
    lines = completed.stderr.strip().splitlines()
    assert completed.returncode == 2, (completed.returncode, completed.stderr)
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("Error: ")
    assert "Traceback" not in completed.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IMPORT_PIPELINE_BATCH_SIZE", "abc", "an integer >= 1"),
        ("IMPORT_PIPELINE_CHUNK_SIZE", "-5", "an integer >= 1"),
        ("IMPORT_PIPELINE_WRITERS", "0", "an integer >= 1"),
        ("IMPORT_PIPELINE_BATCH_WORKERS", "two", "an integer >= 1"),
        ("IMPORT_PIPELINE_CONCURRENCY", "0", "an integer >= 1"),
        ("IMPORT_PIPELINE_HTTP_MAX_BYTES", "1.5", "an integer >= 1"),
        ("IMPORT_PIPELINE_LANDING_SETTLE_SECONDS", "soon", "a number >= 0"),
        ("IMPORT_PIPELINE_API_MAX_BODY_BYTES", "-1", "an integer >= 1"),
    ],
)
def test_a_bad_setting_is_one_line_naming_variable_value_and_form(env, variable, value, expected):
    sample = str(sdk_sample("eppi_import.jsonl"))
    completed = run("import", sample, "--source-name", "x", env=env | {variable: value})
    assert_one_line(completed, f"{variable}={value!r}", expected)


def test_an_empty_setting_counts_as_unset(env, tmp_path):
    completed = run("db", "upgrade", env=env | {"IMPORT_PIPELINE_BATCH_SIZE": ""})
    assert completed.returncode == 0, completed.stderr


@pytest.mark.parametrize("name", ["", "   "])
def test_a_blank_source_name_is_refused(env, name):
    sample = str(sdk_sample("eppi_import.jsonl"))
    completed = run("import", sample, "--source-name", name, env=env)
    assert_one_line(completed, "'--source-name'", "must not be blank")
    assert not (Path(env["IMPORT_PIPELINE_DATA_DIR"]) / "import_pipeline.sqlite").exists()


def test_a_missing_option_is_one_line_pointing_at_help(env):
    completed = run("import", "x.jsonl", env=env)
    assert_one_line(completed, "Missing option '--source-name'", "import-pipeline import --help")


def test_dagster_home_that_is_a_file(env, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a directory")
    sample = str(sdk_sample("eppi_import.jsonl"))
    completed = run("import", sample, "--source-name", "x", env=env | {"DAGSTER_HOME": str(home)})
    assert_one_line(completed, f"DAGSTER_HOME={home} is not a directory")


def test_dagster_home_that_cannot_be_written(env):
    # /proc/1 is a directory that nobody, root included, can create files in.
    sample = str(sdk_sample("eppi_import.jsonl"))
    completed = run("import", sample, "--source-name", "x", env=env | {"DAGSTER_HOME": "/proc/1"})
    assert_one_line(completed, "DAGSTER_HOME=/proc/1 cannot be written")


def test_dagster_home_that_is_relative(env):
    completed = run("db", "upgrade", env=env | {"DAGSTER_HOME": "relative/home"})
    assert_one_line(completed, "DAGSTER_HOME=relative/home must be an absolute path")


def test_dagster_yaml_that_is_broken(env, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_storage: [unclosed\n")
    sample = str(sdk_sample("eppi_import.jsonl"))
    completed = run("import", sample, "--source-name", "x", env=env | {"DAGSTER_HOME": str(home)})
    assert_one_line(completed, f"{home / 'dagster.yaml'} is unusable")


def test_sqlite_folder_that_cannot_be_created(env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    url = f"sqlite:///{blocker / 'sub' / 'db.sqlite'}"
    completed = run("db", "upgrade", env=env | {"IMPORT_PIPELINE_DATABASE_URL": url})
    assert_one_line(completed, f"the folder {blocker / 'sub'} of the SQLite database")


def test_data_dir_under_a_file(env, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    completed = run("demo", env=env | {"IMPORT_PIPELINE_DATA_DIR": str(blocker / "data")})
    assert_one_line(completed, str(blocker / "data"))


def test_a_corrupt_gzip_source_exits_1_with_the_reason(env, tmp_path):
    source = tmp_path / "corrupt.jsonl.gz"
    whole = gzip.compress(sdk_sample("eppi_import.jsonl").read_bytes())
    source.write_bytes(whole[: len(whole) // 2] + b"\x00garbage")
    completed = run("import", str(source), "--source-name", "x", env=env)
    assert completed.returncode == 1, completed.stderr
    assert "Traceback" not in completed.stderr
    assert "(x): failed" in completed.stdout
    assert "failure: every source was unreadable" in completed.stdout
    assert str(source) in completed.stdout
    assert "failed: import record" in completed.stderr  # the run failed too (red in the UI)
    # One line: not Dagster's step-failure log with its stack trace (it is in the run's
    # event log, for the UI).
    assert len(completed.stderr.strip().splitlines()) == 1, completed.stderr

    as_json = run("import", str(source), "--source-name", "x", "--json", env=env)
    assert as_json.returncode == 1
    record = json.loads(as_json.stdout)
    assert record["status"] == "failed"
    assert "every source was unreadable" in record["failure_details"]


def test_failed_lines_in_a_completed_record_exit_0(env, tmp_path):
    source = tmp_path / "mixed.jsonl"
    good = sdk_sample("eppi_import.jsonl").read_text().splitlines()[0]
    source.write_text(f"{good}\nnot json\n")
    completed = run("import", str(source), "--source-name", "x", env=env)
    assert completed.returncode == 0, completed.stderr
    assert "(x): completed" in completed.stdout
    assert "results: completed 1, failed 1" in completed.stdout
    record_id = uuid.UUID(completed.stdout.split()[2])
    engine = create_db_engine(
        f"sqlite:///{Path(env['IMPORT_PIPELINE_DATA_DIR'])}/import_pipeline.sqlite"
    )
    with repository(engine) as imports:
        record = imports.get_record(record_id)
    engine.dispose()
    assert record is not None and record.run_by == RunBy.COMMAND  # no sensor will run it


def test_help_documents_the_exit_statuses(env):
    for args in (["--help"], ["import", "--help"], ["rerun", "--help"]):
        text = " ".join(run(*args, env=env).stdout.split())
        assert "Exit status" in text
        assert "2 usage or configuration error" in text or "2 usage or configuration" in text


def test_a_source_url_with_credentials_is_refused_without_repeating_them(env):
    completed = run(
        "import", "https://reader:s3cret@example.org/refs.jsonl", "--source-name", "x", env=env
    )
    line = assert_one_line(completed, "must not contain user information")
    assert "s3cret" not in completed.stderr + completed.stdout and "reader" not in line
