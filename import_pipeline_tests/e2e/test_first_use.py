"""Several `import` commands started at once on a fresh database and a fresh Dagster home.

The schema is migrated once (the others wait for the lock, then find it current), the
default Dagster instance directory is created once, and every command ends with one
result per line of its own source.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.migrations import schema_is_current
from import_pipeline_tests.conftest import ADMIN_URL
from import_pipeline_tests.data_files import non_blank_lines, real_file, sdk_sample
from import_pipeline_tests.store_access import repository

CLI = [sys.executable, "-m", "import_pipeline.cli"]
IMPORTS = 4


@pytest.fixture
def empty_postgres_url():
    """A new, empty PostgreSQL database (not migrated), dropped after the test."""
    name = f"import_pipeline_fresh_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"PostgreSQL is not reachable at {ADMIN_URL}: {error.orig}")
        pytest.skip(f"PostgreSQL is not reachable at {ADMIN_URL}")
    yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def concurrent_first_imports(tmp_path: Path, database_url: str | None) -> str:
    """Start IMPORTS imports at once on a fresh data directory; return the database URL."""
    data_dir = tmp_path / "data"  # does not exist yet: nor does the default Dagster home
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    env["IMPORT_PIPELINE_DATA_DIR"] = str(data_dir)
    if database_url:
        env["IMPORT_PIPELINE_DATABASE_URL"] = database_url
    sources = [
        real_file("synergy_Sep_2021.jsonl.gz"),
        real_file("synergy_Donners_2021.jsonl.gz"),
        sdk_sample("eppi_import.jsonl"),
        real_file("bib_dedupe_pair_cases.jsonl.gz"),
    ][:IMPORTS]
    processes = [
        subprocess.Popen(
            [*CLI, "import", str(source), "--source-name", f"first-{n}", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n, source in enumerate(sources)
    ]
    outputs = [process.communicate(timeout=300) for process in processes]
    for process, (stdout, stderr) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, f"exit {process.returncode}\n{stdout[-2000:]}\n{stderr}"
    url = database_url or f"sqlite:///{data_dir / 'import_pipeline.sqlite'}"
    engine = create_db_engine(url)
    try:
        assert schema_is_current(engine)
        with repository(engine) as imports:
            for source, (stdout, _) in zip(sources, outputs, strict=True):
                record = json.loads(stdout)
                assert record["status"] == "completed"
                counts = imports.count_results(record_id=uuid.UUID(record["id"]))
                assert counts["completed"] + counts["failed"] == non_blank_lines(source)
                assert counts["retrying"] == counts["started"] == counts["created"] == 0
    finally:
        engine.dispose()
    home = data_dir / "dagster_home"
    assert (home / "dagster.yaml").read_bytes() == (
        Path(__file__).resolve().parents[2] / "import_pipeline" / "orchestration" / "dagster.yaml"
    ).read_bytes()
    assert not list(home.glob("*.yaml.tmp"))
    return url


def test_four_first_imports_at_once_on_sqlite(tmp_path):
    concurrent_first_imports(tmp_path, None)


@pytest.mark.postgres
def test_four_first_imports_at_once_on_postgres(tmp_path, empty_postgres_url):
    concurrent_first_imports(tmp_path, empty_postgres_url)
