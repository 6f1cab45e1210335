"""The scale-out benchmark still works, at smoke size (no timing is asserted)."""

import subprocess
import sys
import uuid

import pytest

pytestmark = [pytest.mark.distributed, pytest.mark.postgres, pytest.mark.slow]


def test_the_scale_out_benchmark_runs_at_smoke_size(broker, postgres_template, tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.scale_out",
            "--lines",
            "3000",
            "--batch-size",
            "1000",
            "--out-dir",
            str(tmp_path),
            "--db-prefix",
            f"scale_smoke_{uuid.uuid4().hex[:8]}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rows = {line[:18].strip(): line[18:].split() for line in completed.stdout.splitlines()}
    for mode in ("in-process", "celery, 1 worker", "celery, 2 workers"):
        figures = [float(text.replace(",", "")) for text in rows[mode]]
        lines_per_second, wall, in_batches, outside, at_once, steps, per_step = figures
        assert steps == 3  # three batches of 1,000 lines, each a step
        assert wall > in_batches > 0
        assert lines_per_second > 0
        assert outside >= 0
        assert abs(outside - (wall - in_batches)) < 0.15  # printed to 0.1 s
        assert per_step >= 0
        assert 0.5 < at_once <= 2.05  # at most two batches at once: one or two workers
    assert "celery, 2 workers: " in completed.stdout
