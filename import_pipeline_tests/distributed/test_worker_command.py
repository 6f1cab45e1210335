"""`import-pipeline worker` without the celery extra: one line and exit status 2.

The extra cannot be uninstalled for one test, so the probe hides dagster_celery from the
import system (a `None` entry in `sys.modules`) and runs the real command.
"""

import subprocess
import sys

import pytest

from import_pipeline.error_map import EXIT_USAGE

pytestmark = pytest.mark.distributed

WITHOUT_THE_EXTRA = (
    "import sys; sys.modules['dagster_celery'] = None; "
    "from import_pipeline.cli import main; main(['worker'], prog_name='import-pipeline')"
)


def test_the_worker_without_the_celery_extra_says_what_to_install(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_EXTRA],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert completed.returncode == EXIT_USAGE
    assert completed.stderr.strip().splitlines() == [
        "Error: the celery executor needs the `celery` extra: install "
        "import-pipeline[celery] (dagster-celery) beside the project"
    ]
    assert "Traceback" not in completed.stderr
