"""The asset checks really executed by Dagster, per partition, beside a stand-in asset.

The stand-in `imported_references` materializes nothing: the record is imported through
the services first, so that these tests exercise the checks alone (the job-level test of
the real asset runs them after a real import).
"""

import pytest
import sqlalchemy as sa
from dagster import (
    AssetCheckSeverity,
    Definitions,
    MaterializeResult,
    asset,
    define_asset_job,
    instance_for_test,
)

from import_pipeline.orchestration.assets import IMPORTED_REFERENCES_KEY as IMPORTED_REFERENCES
from import_pipeline.orchestration.checks import import_checks
from import_pipeline.orchestration.partitions import (
    IMPORT_RECORDS_PARTITION,
    import_records_partitions,
)
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.settings import get_settings
from import_pipeline.store.tables import import_result
from import_pipeline_tests.integration.test_record_checks import imported, write_source


@asset(key=IMPORTED_REFERENCES, partitions_def=import_records_partitions)
def stand_in_imported_references() -> MaterializeResult:
    """Stands in for the real asset: the record was imported before the run."""
    return MaterializeResult()


def run_checks(database_url, key, *, raise_on_error=True):
    """Materialize the stand-in and run every check for partition `key`; the run's result."""
    defs = Definitions(
        assets=[stand_in_imported_references],
        asset_checks=import_checks,
        jobs=[define_asset_job("imported_references_and_checks")],
        resources={"database": DatabaseResource(database_url=database_url)},
    )
    job = defs.resolve_job_def("imported_references_and_checks")
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, [key])
        return job.execute_in_process(
            instance=instance, partition_key=key, raise_on_error=raise_on_error
        )


def evaluations(result):
    return {
        evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()
    }


@pytest.fixture
def record(engine, tmp_path):
    """A record of 40 lines, one in eight of them invalid JSON (12.5% failed)."""
    record_id, batches = imported(engine, write_source(tmp_path / "r.jsonl", 40, invalid_every=8))
    return record_id, batches


def test_each_check_reports_per_partition_with_its_severity(engine, database_url, record):
    record_id, _ = record
    result = run_checks(database_url, str(record_id))
    assert result.success
    found = evaluations(result)
    assert set(found) == {
        "results_complete",
        "results_settled",
        "identifiers_unique",
        "failed_share_below_threshold",
    }
    for name in ("results_complete", "results_settled", "identifiers_unique"):
        assert found[name].passed, found[name].description
        assert found[name].severity == AssetCheckSeverity.ERROR
        assert found[name].partition == str(record_id)
    complete = found["results_complete"]
    assert complete.description == (
        "every non-blank line of 2 verified batches has exactly one result (40 results)"
    )
    assert complete.metadata["results"].value == 40
    assert complete.metadata["record_id"].value == str(record_id)
    assert complete.metadata["samples"].value.records == []
    share = found["failed_share_below_threshold"]
    assert not share.passed  # 12.5% is over the default 5%
    assert share.severity == AssetCheckSeverity.WARN
    assert share.metadata["failed_share"].value == 0.125
    table = share.metadata["samples"].value
    assert [row.data["line"] for row in table.records] == [8, 16, 24, 32, 40]
    assert [column.name for column in table.schema.columns] == [
        "batch",
        "line",
        "status",
        "details",
    ]


def test_a_result_left_retrying_fails_its_check_with_error_severity(engine, database_url, record):
    record_id, batches = record
    with engine.begin() as connection:
        connection.execute(
            sa.update(import_result)
            .where(import_result.c.import_batch_id == batches[1].id)
            .values(status="retrying")
        )
    found = evaluations(run_checks(database_url, str(record_id)))
    settled = found["results_settled"]
    assert not settled.passed
    assert settled.severity == AssetCheckSeverity.ERROR
    assert settled.description == "20 results not settled: 20 retrying"
    assert settled.metadata["results_retrying"].value == 20
    assert len(settled.metadata["samples"].value.records) == 20
    assert found["results_complete"].passed  # every line still has its one result


def test_the_threshold_comes_from_the_setting(engine, database_url, record, monkeypatch):
    record_id, _ = record
    monkeypatch.setenv("IMPORT_PIPELINE_FAILED_SHARE_WARNING", "0.2")
    get_settings.cache_clear()
    try:
        share = evaluations(run_checks(database_url, str(record_id)))[
            "failed_share_below_threshold"
        ]
    finally:
        get_settings.cache_clear()
    assert share.passed
    assert share.metadata["threshold"].value == 0.2


def test_a_bad_threshold_setting_fails_the_check_with_its_message(
    engine, database_url, record, monkeypatch
):
    record_id, _ = record
    monkeypatch.setenv("IMPORT_PIPELINE_FAILED_SHARE_WARNING", "2")
    get_settings.cache_clear()
    try:
        result = run_checks(database_url, str(record_id), raise_on_error=False)
    finally:
        get_settings.cache_clear()
    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    assert failure.step_key == "imported_references_checks"  # the four checks' one step
    assert failure.step_failure_data.user_failure_data.description.startswith(
        "IMPORT_PIPELINE_FAILED_SHARE_WARNING='2' is not valid: expected a number >= 0 and <= 1"
    )
    assert set(evaluations(result)) == {"results_complete", "results_settled", "identifiers_unique"}


def test_a_partition_that_names_no_record_fails_the_checks(database_url):
    result = run_checks(database_url, "01a2310a-8e51-752c-ae41-2163cc9f7faf", raise_on_error=False)
    assert not result.success
    messages = {
        event.step_failure_data.user_failure_data.description
        for event in result.all_events
        if event.is_step_failure
    }
    assert messages == {"no import record with id 01a2310a-8e51-752c-ae41-2163cc9f7faf"}
    assert evaluations(result) == {}
