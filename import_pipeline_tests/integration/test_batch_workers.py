"""A large batch shared out to worker processes: same results, same retry semantics.

Runs real spawned worker processes against real PostgreSQL; the worker threshold is
lowered so a small file is shared out.
"""

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from import_pipeline.domain.statuses import ImportBatchStatus
from import_pipeline.references.queries import count_references
from import_pipeline.services import batches
from import_pipeline.services.batches import TransientBatchError, process_batch
from import_pipeline.services.planning import start_and_plan
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.integration.test_import_job import register
from import_pipeline_tests.integration.test_transient_settling import hold_identifier
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres


@pytest.fixture
def small_worker_threshold(monkeypatch):
    monkeypatch.setattr(batches, "MIN_LINES_PER_WORKER", 100)


def write(path, count):
    with path.open("w") as handle:
        for n in range(1, count + 1):
            # every 10th line repeats line n - 5 exactly; both land in the same worker
            ident = n - 5 if n % 10 == 0 else n
            handle.write(
                json.dumps({"identifiers": [{"identifier_type": "pm_id", "identifier": ident}]})
                + "\n"
            )
    return path


def test_workers_give_one_result_per_line_and_merge_duplicates(
    pg_engine, tmp_path, small_worker_threshold
):
    record_id = register(pg_engine, write(tmp_path / "s.jsonl", 1000))
    [batch_id] = start_and_plan(sql_units(pg_engine), record_id, 10_000)
    report = process_batch(sql_units(pg_engine), batch_id, chunk_size=50, workers=2)
    assert report.status == ImportBatchStatus.COMPLETED
    assert report.lines_processed == 1000
    with repository(pg_engine) as imports:
        results = imports.list_results(batch_id=batch_id)
    assert sorted(r.line_number for r in results) == list(range(1, 1001))
    assert report.lines_read == 1000
    with repository(pg_engine) as imports:
        assert imports.get_batch(batch_id).source_lines == 1000  # the workers' shares add up
    created = [r for r in results if r.reference_created]
    assert len(created) == 900
    by_line = {r.line_number: r.reference_id for r in results}
    assert all(by_line[n] == by_line[n - 5] for n in range(10, 1001, 10))
    with pg_engine.connect() as connection:
        assert count_references(connection) == 900


_MARKING_MAIN = """
import os
from pathlib import Path
with Path({marks!r}).open("a") as marks:
    marks.write(__name__ + "\\n")


def forkservers():
    for entry in Path("/proc").iterdir():
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if parent == os.getpid() and b"multiprocessing.forkserver" in command:
            yield int(entry.name)


if __name__ == "__main__":
    import sys
    import uuid
    from import_pipeline.services import batches
    from import_pipeline.services.batch_workers import start_worker_server
    from import_pipeline.store.engine import create_db_engine
    from import_pipeline.store.unit_of_work import sql_units
    batches.MIN_LINES_PER_WORKER = 100
    start_worker_server()
    early = list(forkservers())
    units = sql_units(create_db_engine(sys.argv[1]))
    print(batches.process_batch(units, uuid.UUID(sys.argv[2]), chunk_size=50, workers=2).status)
    print(len(early), list(forkservers()) == early)
"""


def test_workers_come_from_the_early_server_and_do_not_run_main_again(
    postgres_url, pg_engine, tmp_path
):
    """The forkserver started early (`start_worker_server`, as the CLI does) is the one the
    batch's workers come from; and multiprocessing's re-run of `__main__` in each child
    is left out (the CLI's main imported its modules again in every worker)."""
    record_id = register(pg_engine, write(tmp_path / "s.jsonl", 400))
    [batch_id] = start_and_plan(sql_units(pg_engine), record_id, 10_000)
    marks = tmp_path / "marks"
    script = tmp_path / "main.py"
    script.write_text(_MARKING_MAIN.format(marks=str(marks)))
    done = subprocess.run(
        [sys.executable, str(script), postgres_url, str(batch_id)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["completed", "1", "True"]
    assert marks.read_text().split() == ["__main__"]  # not once more as __mp_main__ per worker


def test_transient_error_in_a_worker_marks_retrying_and_raises(
    postgres_url, pg_engine, tmp_path, small_worker_threshold
):
    record_id = register(pg_engine, write(tmp_path / "s.jsonl", 400))
    [batch_id] = start_and_plan(sql_units(pg_engine), record_id, 10_000)
    impatient = sa.create_engine(
        sa.make_url(postgres_url).update_query_dict({"options": "-c lock_timeout=200"})
    )
    try:
        with pg_engine.connect() as blocker:
            blocker.begin()
            hold_identifier(blocker, 7)
            with pytest.raises(TransientBatchError, match=r"LockNotAvailable \[55P03\]"):
                process_batch(
                    sql_units(impatient),
                    batch_id,
                    chunk_size=1000,
                    workers=2,
                )
            blocker.rollback()
    finally:
        impatient.dispose()
    with repository(pg_engine) as imports:
        statuses = {r.line_number: r.status for r in imports.list_results(batch_id=batch_id)}
    assert statuses[7] == "retrying"
    assert set(statuses.values()) <= {"retrying", "completed"}
    assert "completed" in statuses.values()  # the other worker's share was committed
    report = process_batch(sql_units(pg_engine), batch_id, chunk_size=1000, workers=2)
    assert report.status == ImportBatchStatus.COMPLETED
    assert report.lines_skipped == sum(1 for s in statuses.values() if s == "completed")
