"""Progress as users see it: batch progress lines in the run's event log, record progress.

Real job runs and real worker processes; real databases.
"""

import pytest
from dagster import instance_for_test

from import_pipeline.definitions import build_definitions
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION
from import_pipeline.orchestration.run_config import op_config, run_config
from import_pipeline.services import batch_workers, batches
from import_pipeline.services.batches import process_batch
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.progress import RecordProgressReader
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import non_blank_lines, real_file
from import_pipeline_tests.integration.test_import_job import register

SOURCE = "bib_dedupe_digital_work.jsonl.gz"  # 7,159 lines


def progress_lines(instance, run_id):
    return [
        entry.user_message
        for entry in instance.all_logs(run_id)
        if "lines settled" in (entry.user_message or "")
    ]


def test_batch_steps_log_their_progress_to_the_event_log(engine, database_url):
    source = real_file(SOURCE)
    record_id = register(engine, source)
    key = str(record_id)
    config = run_config(50_000, 500)
    op_config(config, "process_import_batch")["progress_log_seconds"] = 0.001
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
        job = build_definitions(database_url).resolve_job_def("import_references")
        result = job.execute_in_process(run_config=config, instance=instance, partition_key=key)
        assert result.success
        lines = progress_lines(instance, result.run_id)
    assert len(lines) >= 5, lines
    total = non_blank_lines(source)
    done = [int(line.split(": ")[1].split(" of ")[0].replace(",", "")) for line in lines]
    assert done == sorted(done) and len(set(done)) == len(done)
    assert all(f" of {total:,} (" in line for line in lines)


def test_batch_steps_log_every_tenth_of_their_lines_by_default(engine, database_url):
    source = real_file(SOURCE)
    record_id = register(engine, source)
    key = str(record_id)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
        job = build_definitions(database_url).resolve_job_def("import_references")
        result = job.execute_in_process(
            run_config=run_config(50_000, 250), instance=instance, partition_key=key
        )
        lines = progress_lines(instance, result.run_id)
    shares = [int(line.split("(")[1].split("%")[0]) for line in lines]
    assert len(shares) >= 9, lines  # every 716 lines of 7,159, or every 10 s
    assert shares == sorted(shares)


@pytest.mark.postgres
def test_a_batch_in_worker_processes_reports_progress_while_they_run(
    pg_engine, tmp_path, monkeypatch
):
    monkeypatch.setattr(batches, "MIN_LINES_PER_WORKER", 100)
    monkeypatch.setattr(batch_workers, "WAIT_TICK_SECONDS", 0.02)  # workers take > 0.1 s
    source = real_file(SOURCE)
    record_id = register(pg_engine, source)
    [batch_id] = start_and_plan(sql_units(pg_engine), record_id, 50_000)
    seen = []
    process_batch(
        sql_units(pg_engine),
        batch_id,
        chunk_size=200,
        workers=2,
        on_progress=seen.append,
    )
    assert seen, "no progress while the workers ran"
    assert {progress.batch_id for progress in seen} == {batch_id}
    assert all(progress.total_lines == 7159 for progress in seen)
    done = [progress.lines_done for progress in seen]
    assert done == sorted(done) and done[-1] <= 7159


def test_record_progress_counts_settled_lines_of_a_known_total(engine):
    source = real_file(SOURCE)
    record_id = register(engine, source)
    reader = RecordProgressReader(sql_units(engine), record_id)
    before = reader.read()
    assert before.total_lines is None  # not planned yet: the size is unknown
    assert before.settled == 0
    batch_ids = start_and_plan(sql_units(engine), record_id, 2_000)
    planned = reader.read()
    assert planned.total_lines == 7159 and planned.settled == 0
    process_batch(sql_units(engine), batch_ids[0], chunk_size=500)
    one_done = reader.read()
    assert one_done.settled == 2000
    assert one_done.total_lines == 7159
    for batch_id in batch_ids[1:]:
        process_batch(sql_units(engine), batch_id, chunk_size=500)
    done = reader.read()
    assert done.settled == done.total_lines == non_blank_lines(source)
