"""A record that ends `failed` fails its run, with the record's reason; failed lines do not.

So in the UI a failed import is red (its run and step), and green only when its record
completed, whatever some of its lines did.
"""

import gzip
from pathlib import Path

from dagster import AssetCheckSeverity, DagsterEventType, instance_for_test

from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.services.finalise import summarise
from import_pipeline_tests.data_files import non_blank_lines, sdk_sample
from import_pipeline_tests.integration.test_import_job import register, run_job
from import_pipeline_tests.store_access import repository


def test_an_unreadable_source_fails_the_run_with_the_record_s_reason(
    engine, database_url, tmp_path
):
    source = tmp_path / "corrupt.jsonl.gz"
    whole = gzip.compress(sdk_sample("eppi_import.jsonl").read_bytes())
    source.write_bytes(whole[: len(whole) // 2])
    record_id = register(engine, source)
    with instance_for_test() as instance:
        result = run_job(database_url, instance, record_id, raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == DagsterEventType.STEP_FAILURE]
    assert failure.step_key == "imported_references.finalise_import_record"
    data = failure.step_failure_data.user_failure_data
    assert data.description.startswith(f"import record {record_id} failed: every source was")
    assert {"status", "counts_by_status", "failure_samples"} <= set(data.metadata)
    with repository(engine) as imports:
        assert summarise(imports, record_id).record.status == ImportRecordStatus.FAILED


def test_failed_lines_in_a_completed_record_leave_the_run_green(engine, database_url, tmp_path):
    source = tmp_path / "mixed.jsonl"
    good = sdk_sample("eppi_import.jsonl").read_text().splitlines()[0]
    source.write_text(f"{good}\nnot json\n")
    record_id = register(engine, source)
    with instance_for_test() as instance:
        result = run_job(database_url, instance, record_id)
    assert result.success
    with repository(engine) as imports:
        summary = summarise(imports, record_id)
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert summary.counts["failed"] == 1


def test_a_finalised_record_publishes_numbers_and_its_failed_lines_as_a_table(engine, database_url):
    demo = Path(__file__).resolve().parents[2] / "import_pipeline" / "samples" / "demo.jsonl"
    record_id = register(engine, demo)
    with instance_for_test() as instance:
        result = run_job(database_url, instance, record_id)
    [materialization] = result.asset_materializations_for_node("imported_references")
    assert materialization.partition == str(record_id)
    metadata = {key: value.value for key, value in materialization.metadata.items()}
    assert metadata["source_name"] == "tests" and metadata["record_id"] == str(record_id)
    assert metadata["lines"] == 49 == non_blank_lines(demo)
    assert (metadata["lines_completed"], metadata["lines_failed"]) == (45, 3)
    assert metadata["lines_partially_failed"] == 1
    assert metadata["failed_share"] == round(4 / 49, 6)
    assert metadata["references_created"] == 45 and metadata["references_matched"] == 1
    for key in ("lines_per_second", "batch_lines_per_second", "seconds", "batches"):
        assert isinstance(metadata[key], int | float)
    rows = [record.data for record in metadata["failure_samples"].records]
    assert [row["line"] for row in rows] == sorted(row["line"] for row in rows)
    assert len(rows) == 4
    assert {row["batch"] for row in rows} == {"demo.jsonl 1-50"}  # file and range, not an id
    # Angle brackets survive (Markdown used to swallow "<suffix>").
    assert any("10.<4-9 digits>/<suffix>" in row["details"] for row in rows)


def test_the_real_job_runs_the_checks_and_a_high_failed_share_only_warns(engine, database_url):
    demo = Path(__file__).resolve().parents[2] / "import_pipeline" / "samples" / "demo.jsonl"
    record_id = register(engine, demo)  # 4 of 49 lines failed: 8% > the default 5%
    with instance_for_test() as instance:
        result = run_job(database_url, instance, record_id)
    assert result.success  # a warning is not a failure
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == {
        "results_complete",
        "results_settled",
        "identifiers_unique",
        "failed_share_below_threshold",
    }
    assert all(e.partition == str(record_id) for e in evaluations.values())
    warning = evaluations.pop("failed_share_below_threshold")
    assert not warning.passed and warning.severity == AssetCheckSeverity.WARN
    assert all(e.passed for e in evaluations.values())
