"""The benchmark command still works, at smoke size (no timing is asserted)."""

import subprocess
import sys
import uuid

import pytest
import sqlalchemy as sa

from import_pipeline_tests.conftest import ADMIN_URL

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_benchmark_runs_at_smoke_size(postgres_template, tmp_path):
    prefix = f"smoke_{uuid.uuid4().hex[:8]}"
    try:
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.run",
                "--lines",
                "3000",
                "--out-dir",
                str(tmp_path),
                "--db-prefix",
                prefix,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    finally:
        admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for suffix in ("baseline", "pipeline", "dlt"):
                connection.exec_driver_sql(
                    f'DROP DATABASE IF EXISTS "{prefix}_{suffix}" WITH (FORCE)'
                )
        admin.dispose()
    assert completed.returncode == 0, completed.stderr[-3000:]
    out = completed.stdout
    rows = {line[:43].strip(): line[43:].strip() for line in out.splitlines() if len(line) > 43}
    assert rows["lines (non-blank)"] == "3,000"
    for row in (
        "baseline raw COPY",
        "ratio pipeline / baseline",
        "peak RSS of the command's largest process",
        "time in batches / Dagster overhead",
        "re-import speed-up",
        "dlt default load (peer)",  # its figures, or why it was skipped (no bench group)
        "CPU of the command's processes",
    ):
        assert row in out
    assert rows["references created on re-import"] == "0"
