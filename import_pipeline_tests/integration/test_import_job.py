"""The partitioned import job really executed, with the real resources on PostgreSQL."""

import uuid

import pytest
from dagster import DagsterEventType, instance_for_test

from import_pipeline.definitions import build_definitions
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION
from import_pipeline.orchestration.run_config import run_config
from import_pipeline.references.queries import count_references
from import_pipeline.services.finalise import summarise
from import_pipeline.services.registration import register_import
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import (
    SDK_EPPI_SAMPLES,
    non_blank_lines,
    real_file,
    sdk_sample,
)
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres


def run_job(
    url, instance, record_id, batch_size=50_000, chunk_size=500, step_settings=None, **kwargs
):
    key = str(record_id)
    if not instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key):
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
    job = build_definitions(url).resolve_job_def("import_references")
    config = run_config(batch_size, chunk_size)
    if step_settings:
        config["resources"] = {"step_settings": {"config": step_settings}}
    return job.execute_in_process(
        run_config=config,
        instance=instance,
        partition_key=key,
        **kwargs,
    )


def register(engine, *paths):
    rec, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="tests", processor_name="tests", processor_version="1"),
        [str(p) for p in paths],
    )
    return rec.id


def test_job_imports_sdk_samples_one_result_per_line(pg_engine, postgres_url):
    samples = [sdk_sample(name) for name in SDK_EPPI_SAMPLES]
    record_id = register(pg_engine, *samples)
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, record_id)
    assert result.success
    with repository(pg_engine) as imports:
        summary = summarise(imports, record_id)
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert all(b.status == ImportBatchStatus.COMPLETED for b in summary.batches)
    # The three eppi files hold the same four references (same DOIs), richer each time.
    assert summary.counts["completed"] == sum(non_blank_lines(p) for p in samples) == 12
    assert summary.counts["references_created"] == 4
    assert summary.counts["references_matched"] == 8
    with pg_engine.connect() as connection:
        assert count_references(connection) == 4
    [materialization] = result.asset_materializations_for_node("imported_references")
    assert materialization.partition == str(record_id)
    assert materialization.metadata["lines_completed"].value == 12


def test_job_on_real_data_in_several_batches_then_reimport(pg_engine, postgres_url):
    source = real_file("synergy_Meijboom_2021.jsonl.gz")  # imported as gzip
    lines = non_blank_lines(source)
    first = register(pg_engine, source)
    second = register(pg_engine, source)
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, first, batch_size=300)
        again = run_job(postgres_url, instance, second, batch_size=300)
        assert result.success and again.success
        batch_steps = {
            e.step_key
            for e in result.all_events
            if e.event_type == DagsterEventType.STEP_SUCCESS
            and e.step_key.startswith("imported_references.process_import_batch")
        }
        assert len(batch_steps) == 3  # 882 lines in batches of 300
    with repository(pg_engine) as imports:
        s1 = summarise(imports, first)
        s2 = summarise(imports, second)
    assert sum(s1.counts[k] for k in ("completed", "partially_failed", "failed")) == lines == 882
    assert s1.counts["failed"] == 0
    created = s1.counts["references_created"]
    assert created + s1.counts["references_matched"] == lines
    assert s2.counts["references_created"] == 0
    assert s2.counts["references_matched"] == lines
    with pg_engine.connect() as connection:
        assert count_references(connection) == created


def test_rerunning_a_partition_writes_no_second_result(pg_engine, postgres_url):
    source = sdk_sample("eppi_import.jsonl")
    record_id = register(pg_engine, source)
    with instance_for_test() as instance:
        assert run_job(postgres_url, instance, record_id).success
        assert run_job(postgres_url, instance, record_id).success
    with repository(pg_engine) as imports:
        results = imports.list_results(record_id=record_id)
    assert len(results) == 4
    assert len({r.line_number for r in results}) == 4


def test_unknown_record_fails_the_run_with_a_clear_message(postgres_url):
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, uuid.uuid4(), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE)
    assert "no import record with id" in failure.step_failure_data.error.message
