"""Partitions people can read: sources as partition keys, source tags on every run."""

import re
import uuid

import pytest
from dagster import instance_for_test

from import_pipeline.definitions import build_definitions
from import_pipeline.domain.errors import InvalidPartitionKeyError
from import_pipeline.domain.models import ImportBatch
from import_pipeline.domain.statuses import ImportRecordStatus, RunBy
from import_pipeline.orchestration.batch_keys import batch_mapping_keys
from import_pipeline.orchestration.partitions import (
    IMPORT_RECORDS_PARTITION,
    record_id_from_partition_key,
    source_record_id,
)
from import_pipeline.orchestration.run_config import (
    RECORD_ID_TAG,
    SOURCE_TAG,
    run_config,
    tags_for_partition,
)
from import_pipeline.services.finalise import summarise
from import_pipeline.settings import get_settings
from import_pipeline_tests.data_files import non_blank_lines, sdk_sample
from import_pipeline_tests.integration.test_import_job import register
from import_pipeline_tests.store_access import repository


@pytest.fixture
def database_env(monkeypatch, database_url):
    """The settings (as the code location reads them) point at the test's database."""
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def test_a_partition_added_as_a_source_path_imports_that_source(engine, database_env):
    source = str(sdk_sample("eppi_import.jsonl"))
    with instance_for_test() as instance:
        # What the UI's "Add partition" dialog does with the text typed into it.
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [source])
        job = build_definitions().resolve_job_def("import_references")
        result = job.execute_in_process(
            run_config=run_config(50_000, 500), instance=instance, partition_key=source
        )
        assert result.success
        run = instance.get_run_by_id(result.run_id)
    record_id = source_record_id(source)
    assert run.tags[RECORD_ID_TAG] == str(record_id)
    assert run.tags[SOURCE_TAG] == "eppi_import.jsonl"
    [materialization] = result.asset_materializations_for_node("imported_references")
    assert materialization.partition == source
    with repository(engine) as imports:
        summary = summarise(imports, record_id)
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert summary.record.run_by == RunBy.PARTITION  # no sensor runs it under its id
    assert summary.record.source_name == "eppi_import.jsonl"
    assert summary.counts["completed"] == non_blank_lines(sdk_sample("eppi_import.jsonl"))


def test_partition_runs_are_tagged_with_the_records_source_name(engine, database_env):
    record_id = register(engine, sdk_sample("eppi_import.jsonl"))  # source name "tests"
    tags = tags_for_partition(str(record_id))
    assert tags == {RECORD_ID_TAG: str(record_id), SOURCE_TAG: "tests"}
    unknown = str(uuid.uuid4())
    assert tags_for_partition(unknown) == {RECORD_ID_TAG: unknown}  # no record: no source
    assert tags_for_partition("not a key") == {}


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "the run has no partition"),
        ("refs.jsonl", "is neither an import record id (a UUID) nor a source"),
        ("/data/a,b.jsonl", "has a comma, which Dagster's backfills cannot carry"),
    ],
)
def test_keys_that_name_no_record_are_refused_with_the_reason(key, message):
    with pytest.raises(InvalidPartitionKeyError, match=re.escape(message)):
        record_id_from_partition_key(key)


def test_source_keys_name_the_same_record_every_time():
    key = "https://example.org/exports/refs.jsonl.gz"
    assert record_id_from_partition_key(key) == source_record_id(key)
    assert source_record_id(key) != source_record_id(key + "?page=2")


def test_batch_steps_are_named_by_file_and_line_range():
    record_id = uuid.uuid4()
    batches = [
        ImportBatch(
            import_record_id=record_id, storage_url="/a/refs.jsonl", line_start=1, line_end=500
        ),
        ImportBatch(
            import_record_id=record_id, storage_url="/a/refs.jsonl", line_start=501, line_end=900
        ),
        ImportBatch(import_record_id=record_id, storage_url="https://h/x/openalex.jsonl.gz"),
        ImportBatch(
            import_record_id=record_id, storage_url="/b/refs.jsonl", line_start=1, line_end=500
        ),
    ]
    keys = batch_mapping_keys(batches)
    assert keys[1] == "refs_jsonl_501_900"
    assert keys[2] == "openalex_jsonl_gz_whole_source"
    # Same file name and range from two folders: both told apart by their ids.
    assert keys[0] == f"refs_jsonl_1_500_{batches[0].id.hex[-8:]}"
    assert keys[3] == f"refs_jsonl_1_500_{batches[3].id.hex[-8:]}"
    assert len(set(keys)) == 4
    assert all(re.fullmatch(r"[A-Za-z0-9_]+", key) for key in keys)
