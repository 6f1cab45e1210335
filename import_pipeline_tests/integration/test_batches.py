"""Batch processing on a real store: one result per line, resume, unreadable sources."""

import gzip
import json
import shutil

import pytest
import sqlalchemy as sa

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.domain.statuses import ImportResultStatus as S
from import_pipeline.services.batches import process_batch
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.sources import SourceUnreadableError
from import_pipeline.store.tables import import_result
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import sdk_sample
from import_pipeline_tests.store_access import repository


def record():
    return ImportRecord(source_name="test", processor_name="tests", processor_version="1")


def write_lines(path, count, blank_every=0):
    with path.open("w") as handle:
        for n in range(1, count + 1):
            if blank_every and n % blank_every == 0:
                handle.write("\n")
            else:
                handle.write(
                    json.dumps({"identifiers": [{"identifier_type": "pm_id", "identifier": n}]})
                    + "\n"
                )
    return path


def run_all(engine, record_id, batch_size=1000, chunk_size=7):
    batch_ids = start_and_plan(sql_units(engine), record_id, batch_size)
    for batch_id in batch_ids:
        process_batch(sql_units(engine), batch_id, chunk_size=chunk_size)
    return finalise_record(sql_units(engine), record_id)


def test_chunked_source_gets_one_result_per_non_blank_line(engine, tmp_path):
    source = write_lines(tmp_path / "s.jsonl", 95, blank_every=10)
    rec, _ = register_import(sql_units(engine), record(), [str(source)])
    summary = run_all(engine, rec.id, batch_size=20)
    assert [(b.line_start, b.line_end) for b in summary.batches] == [
        (1, 20),
        (21, 40),
        (41, 60),
        (61, 80),
        (81, 95),
    ]
    assert summary.counts["completed"] == 95 - 9
    assert summary.record.status == ImportRecordStatus.COMPLETED
    with repository(engine) as imports:
        lines = [r.line_number for r in imports.list_results(record_id=rec.id)]
    assert sorted(lines) == [n for n in range(1, 96) if n % 10]


def test_rerun_skips_settled_lines_and_writes_no_second_result(engine, tmp_path):
    source = write_lines(tmp_path / "s.jsonl", 30)
    rec, [batch] = register_import(sql_units(engine), record(), [str(source)])
    run_all(engine, rec.id)
    with repository(engine) as imports:
        # Pretend the batch was interrupted: reopen it and forget the last 10 results.
        reopened = imports.get_batch(batch.id).model_copy(
            update={"status": ImportBatchStatus.STARTED}
        )
        imports.save_batch(reopened)
        imports.connection.execute(
            sa.delete(import_result).where(
                import_result.c.import_batch_id == batch.id, import_result.c.line_number > 20
            )
        )
    report = process_batch(sql_units(engine), batch.id, chunk_size=4)
    assert report.lines_skipped == 20
    assert report.lines_processed == 10
    assert report.status == ImportBatchStatus.COMPLETED
    with repository(engine) as imports:
        assert len(imports.list_results(batch_id=batch.id)) == 30


def test_gzip_source_is_read(engine, tmp_path):
    target = tmp_path / "eppi.jsonl.gz"
    with sdk_sample("eppi_import.jsonl").open("rb") as src, gzip.open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)
    rec, _ = register_import(sql_units(engine), record(), [str(target)])
    summary = run_all(engine, rec.id)
    assert summary.counts["completed"] == 4


def test_corrupt_gzip_fails_the_batch_with_the_reason(engine, tmp_path):
    target = tmp_path / "broken.jsonl.gz"
    payload = gzip.compress(
        b"".join(
            json.dumps({"identifiers": [{"identifier_type": "pm_id", "identifier": n}]}).encode()
            + b"\n"
            for n in range(1, 2000)
        )
    )
    target.write_bytes(payload[: len(payload) // 2])
    rec, _ = register_import(sql_units(engine), record(), [str(target)])
    summary = run_all(engine, rec.id)
    [batch] = summary.batches
    assert batch.status == ImportBatchStatus.FAILED
    assert "corrupt gzip" in batch.failure_details and "broken.jsonl.gz" in batch.failure_details
    assert summary.record.status == ImportRecordStatus.FAILED
    assert "every source was unreadable" in summary.record.failure_details


def test_file_removed_after_registration_fails_its_batch_only(engine, tmp_path):
    kept = write_lines(tmp_path / "kept.jsonl", 3)
    gone = write_lines(tmp_path / "gone.jsonl", 3)
    rec, _ = register_import(sql_units(engine), record(), [str(kept), str(gone)])
    gone.unlink()
    summary = run_all(engine, rec.id)
    statuses = {
        b.storage_url.rsplit("/", 1)[-1]: (b.status, b.failure_details) for b in summary.batches
    }
    assert statuses["kept.jsonl"] == (ImportBatchStatus.COMPLETED, None)
    assert statuses["gone.jsonl"][0] == ImportBatchStatus.FAILED
    assert "gone.jsonl: no such file" in statuses["gone.jsonl"][1]
    assert summary.record.status == ImportRecordStatus.COMPLETED


def test_missing_source_is_refused_at_registration(engine, tmp_path):
    with pytest.raises(SourceUnreadableError, match=r"nothing\.jsonl: no such file"):
        register_import(sql_units(engine), record(), [str(tmp_path / "nothing.jsonl")])


def test_failed_lines_and_statuses_are_counted(engine, tmp_path):
    source = tmp_path / "mixed.jsonl"
    source.write_text(
        "\n".join(
            [
                json.dumps({"identifiers": [{"identifier_type": "pm_id", "identifier": 1}]}),
                "not json",
                json.dumps(
                    {
                        "identifiers": [
                            {"identifier_type": "pm_id", "identifier": 2},
                            {"identifier_type": "doi", "identifier": "x"},
                        ]
                    }
                ),
            ]
        )
        + "\n"
    )
    rec, _ = register_import(sql_units(engine), record(), [str(source)])
    summary = run_all(engine, rec.id)
    assert (
        summary.counts["completed"],
        summary.counts["failed"],
        summary.counts["partially_failed"],
    ) == (1, 1, 1)
    assert summary.batches[0].status == ImportBatchStatus.PARTIALLY_FAILED
    [sample] = summary.failure_samples
    assert sample.startswith("Entry 2: not valid JSON (")
    with repository(engine) as imports:
        failed = imports.list_results(record_id=rec.id, status=S.FAILED)
    assert [r.line_number for r in failed] == [2]


def test_a_batch_read_through_records_its_non_blank_lines(engine, tmp_path):
    source = write_lines(tmp_path / "s.jsonl", 45, blank_every=10)
    rec, _ = register_import(sql_units(engine), record(), [str(source)])
    summary = run_all(engine, rec.id, batch_size=20)
    assert [(b.line_start, b.line_end, b.source_lines) for b in summary.batches] == [
        (1, 20, 18),
        (21, 40, 18),
        (41, 45, 5),
    ]


def test_a_resumed_batch_counts_its_settled_lines_too(engine, tmp_path):
    source = write_lines(tmp_path / "s.jsonl", 30, blank_every=7)
    rec, [batch] = register_import(sql_units(engine), record(), [str(source)])
    run_all(engine, rec.id)
    with repository(engine) as imports:
        reopened = imports.get_batch(batch.id).model_copy(
            update={"status": ImportBatchStatus.STARTED, "source_lines": None}
        )
        imports.save_batch(reopened)
        imports.connection.execute(
            sa.delete(import_result).where(
                import_result.c.import_batch_id == batch.id, import_result.c.line_number > 20
            )
        )
    report = process_batch(sql_units(engine), batch.id, chunk_size=4)
    assert report.lines_skipped == 18
    assert report.lines_read == 26
    with repository(engine) as imports:
        assert imports.get_batch(batch.id).source_lines == 26


def test_a_source_that_failed_records_no_line_count(engine, tmp_path):
    gone = write_lines(tmp_path / "gone.jsonl", 3)
    rec, _ = register_import(sql_units(engine), record(), [str(gone)])
    gone.unlink()
    [batch] = run_all(engine, rec.id).batches
    assert batch.status == ImportBatchStatus.FAILED
    assert batch.source_lines is None
