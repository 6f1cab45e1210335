"""Local sources are held to the fingerprint taken when they were planned (spec section 5).

A file truncated or rewritten between planning and processing, or cut short while its
batch reads it, fails the batch with "source changed since it was registered: ..."
instead of importing a mix or silently fewer lines; the lines read before keep their
results, and the record says how far the source got. An unchanged file still imports
and re-imports, and so does a batch planned before fingerprints existed.
"""

import json
import os
import re

import pytest
import sqlalchemy as sa
from alembic import command

from import_pipeline.domain.models import ImportRecord, SourceFingerprint, new_id
from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.references.store import SqlReferenceStore
from import_pipeline.services import batches
from import_pipeline.services.batches import process_batch
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.sources import fingerprint_file
from import_pipeline.store.migrations import alembic_config, upgrade_schema
from import_pipeline.store.tables import import_batch, import_record, import_result
from import_pipeline.store.unit_of_work import SqlUnitOfWork, sql_units
from import_pipeline_tests.store_access import repository

CHANGED = "source changed since it was registered: "


def line(n, width=6):
    """Source line `n`; its identifier has `width` digits, so rewrites can keep the size."""
    return json.dumps(
        {"identifiers": [{"identifier_type": "pm_id", "identifier": f"{n:0{width}d}"}]}
    )


def write_lines(path, count, start=1):
    path.write_text("".join(line(n) + "\n" for n in range(start, start + count)))
    return path


def register(engine, path):
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="fingerprints", processor_name="tests", processor_version="1"),
        [str(path)],
    )
    return record.id


def process_all(engine, record_id, batch_ids, **kwargs):
    for batch_id in batch_ids:
        process_batch(sql_units(engine), batch_id, chunk_size=25, **kwargs)
    return finalise_record(sql_units(engine), record_id)


def result_lines(engine, record_id):
    with repository(engine) as imports:
        return sorted(r.line_number for r in imports.list_results(record_id=record_id))


def truncate(path):
    os.truncate(path, path.stat().st_size // 2)


def rewrite_same_size_new_time(path):
    before = path.stat()
    write_lines(path, before.st_size // len(line(1) + "\n"), start=500_001)
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))


def rewrite_same_size_same_time(path):
    before = path.stat()
    rewrite_same_size_new_time(path)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # only the hash can tell


@pytest.mark.parametrize(
    ("change", "workers", "what_changed"),
    [
        pytest.param(truncate, 1, "size was 7,200 bytes, now 3,600", id="truncated"),
        pytest.param(
            truncate, 2, "size was 7,200 bytes, now 3,600", id="truncated-worker-processes"
        ),
        pytest.param(rewrite_same_size_new_time, 1, "modification time was", id="same-size"),
        pytest.param(
            rewrite_same_size_same_time,
            1,
            "its first or last 64 KiB differ",
            id="same-size-and-time",
        ),
    ],
)
def test_a_file_changed_between_planning_and_processing_fails_its_batches(
    engine, tmp_path, monkeypatch, change, workers, what_changed
):
    monkeypatch.setattr(batches, "MIN_LINES_PER_WORKER", 10)  # 40-line ranges: 2 workers
    source = write_lines(tmp_path / "refs.jsonl", 100)  # 72 bytes a line
    record_id = register(engine, source)
    batch_ids = start_and_plan(sql_units(engine), record_id, 40)
    change(source)

    summary = process_all(engine, record_id, batch_ids, workers=workers)

    assert len(summary.batches) == 3
    for batch in summary.batches:
        assert batch.status == ImportBatchStatus.FAILED
        assert batch.failure_details.startswith(f"{CHANGED}{source}: ")
        assert what_changed in batch.failure_details
    assert result_lines(engine, record_id) == []  # nothing of either content imported
    assert summary.record.status == ImportRecordStatus.FAILED
    assert summary.record.failure_details.startswith(
        f"1 of 1 source(s) changed since it was registered: {source}: "
    )
    assert "unreadable" not in summary.record.failure_details


def cutting_units(engine, source, size):
    """Units of work on `engine` that cut the source down to `size` bytes as the first chunk
    reaches the reference store."""
    state = {"cut": False}

    class CuttingStore(SqlReferenceStore):
        def ingest(self, lines):
            if not state["cut"]:
                state["cut"] = True
                os.truncate(source, size)
            return super().ingest(lines)

    class CuttingUnit(SqlUnitOfWork):
        @property
        def references(self):
            return CuttingStore(self._active())

    return lambda: CuttingUnit(engine)


CUT_TO = 50 * 72 + 36  # 50 lines and half of the 51st


def lines_read_before_the_cut(lines, details):
    """How many lines were read: all of a buffered file; else up to where the range ended."""
    if lines * 72 <= 1 << 20:  # the whole file was in the reader's buffer before the cut
        assert f"size was {lines * 72:,} bytes, now {CUT_TO:,}" in details, details
        return lines
    found = re.search(
        r"it was cut short: reading it ended (within|after) line ([\d,]+), before the batch's last line",
        details,
    )
    assert found, details
    last = int(found.group(2).replace(",", ""))
    return last - 1 if found.group(1) == "within" else last  # a line cut off is not read


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(200, id="in-the-buffer-caught-at-the-end"),
        pytest.param(30_000, id="longer-than-the-buffer-ends-early"),
    ],
)
def test_a_file_cut_short_while_its_batch_reads_it_fails_after_settling_what_was_read(
    engine, tmp_path, lines
):
    source = write_lines(tmp_path / "refs.jsonl", lines)
    record_id = register(engine, source)
    [batch_id] = start_and_plan(sql_units(engine), record_id, 50_000)

    report = process_batch(cutting_units(engine, source, CUT_TO), batch_id, chunk_size=100)

    assert report.status == ImportBatchStatus.FAILED
    details = report.failure_details
    assert details.startswith(f"{CHANGED}{source}: "), details
    read = lines_read_before_the_cut(lines, details)
    assert read > 50  # lines were read past the cut, from before it
    assert result_lines(engine, record_id) == list(range(1, read + 1))
    assert details.endswith(
        f"; {read:,} lines of the batch had been imported before that, the rest were not"
    )
    summary = finalise_record(sql_units(engine), record_id)
    assert summary.record.status == ImportRecordStatus.FAILED
    assert summary.record.failure_details.startswith(
        f"1 of 1 source(s) changed since it was registered ({read:,} lines imported): {source}: "
    )


def test_an_unchanged_file_reimports_and_resumes_with_its_fingerprint(engine, tmp_path):
    source = write_lines(tmp_path / "refs.jsonl", 100)
    record_id = register(engine, source)
    batch_ids = start_and_plan(sql_units(engine), record_id, 40)
    with repository(engine) as imports:
        planned = [imports.get_batch(batch_id).source_fingerprint for batch_id in batch_ids]
    assert planned == [fingerprint_file(str(source))] * 3
    assert (
        start_and_plan(sql_units(engine), record_id, 40) == batch_ids
    )  # planning again: idempotent

    # A run that died in the last batch: half of its lines settled, the batch started.
    for batch_id in batch_ids:
        process_batch(sql_units(engine), batch_id, chunk_size=25)
    with engine.begin() as connection:
        connection.execute(
            sa.delete(import_result).where(
                import_result.c.import_batch_id == batch_ids[-1], import_result.c.line_number > 90
            )
        )
        connection.execute(
            sa.update(import_batch)
            .where(import_batch.c.id == batch_ids[-1])
            .values(status=ImportBatchStatus.STARTED)
        )

    assert start_and_plan(sql_units(engine), record_id, 40) == [batch_ids[-1]]
    summary = process_all(engine, record_id, [batch_ids[-1]])
    assert [b.status for b in summary.batches] == [ImportBatchStatus.COMPLETED] * 3
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert result_lines(engine, record_id) == list(range(1, 101))


@pytest.mark.parametrize("how", ["fingerprint-cleared", "planned-at-revision-0005"])
def test_a_batch_planned_before_fingerprints_still_imports_and_gets_one(engine, tmp_path, how):
    source = write_lines(tmp_path / "refs.jsonl", 30)
    if how == "fingerprint-cleared":
        record_id = register(engine, source)
        batch_ids = start_and_plan(sql_units(engine), record_id, 20)
        with engine.begin() as connection:
            connection.execute(sa.update(import_batch).values(source_fingerprint=None))
    else:  # rows written by the code of revision 0005: no fingerprint column yet
        command.downgrade(alembic_config(engine), "0005")
        record = ImportRecord(source_name="old", processor_name="tests", processor_version="1")
        record = record.model_copy(update={"status": ImportRecordStatus.STARTED})
        later = {"finalise_requested"}  # the record's fields added after revision 0005
        with repository(engine) as imports:
            imports.connection.execute(
                sa.insert(import_record).values(record.model_dump(exclude=later))
            )
            for start, end in [(1, 20), (21, 30)]:
                imports.connection.execute(
                    sa.insert(import_batch).values(
                        id=new_id(),
                        import_record_id=record.id,
                        storage_url=str(source),
                        line_start=start,
                        line_end=end,
                        status=ImportBatchStatus.CREATED,
                        created_at=record.created_at,
                        updated_at=record.created_at,
                    )
                )
        upgrade_schema(engine)
        record_id = record.id
        batch_ids = start_and_plan(sql_units(engine), record_id, 20)
    with repository(engine) as imports:
        assert [b.source_fingerprint for b in imports.list_batches(record_id)] == [None, None]

    summary = process_all(engine, record_id, batch_ids)

    assert [b.status for b in summary.batches] == [ImportBatchStatus.COMPLETED] * 2
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert result_lines(engine, record_id) == list(range(1, 31))
    fingerprint = fingerprint_file(str(source))
    assert [b.source_fingerprint for b in summary.batches] == [fingerprint, fingerprint]
    assert isinstance(fingerprint, SourceFingerprint)


@pytest.mark.parametrize(
    ("other", "status"),
    [
        pytest.param("whole", ImportRecordStatus.COMPLETED, id="the-other-imports"),
        pytest.param("missing", ImportRecordStatus.FAILED, id="the-other-is-missing"),
    ],
)
def test_a_record_fails_only_when_none_of_its_sources_could_be_imported_whole(
    engine, tmp_path, other, status
):
    changed = write_lines(tmp_path / "changed.jsonl", 100)
    second = write_lines(tmp_path / "second.jsonl", 10, start=1001)
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="two", processor_name="tests", processor_version="1"),
        [str(changed), str(second)],
    )
    batch_ids = start_and_plan(sql_units(engine), record.id, 40)
    truncate(changed)
    if other == "missing":
        second.unlink()

    summary = process_all(engine, record.id, batch_ids)

    by_source = {}
    for batch in summary.batches:
        by_source.setdefault(batch.storage_url, set()).add(batch.status)
    assert by_source[str(changed)] == {ImportBatchStatus.FAILED}
    assert summary.record.status == status
    if status == ImportRecordStatus.COMPLETED:
        assert by_source[str(second)] == {ImportBatchStatus.COMPLETED}
        assert summary.record.failure_details is None
    else:
        reason = summary.record.failure_details
        assert reason.startswith(
            f"1 of 2 source(s) changed since it was registered: {changed}: size was 7,200 "
            "bytes, now 3,600; "
        )
        assert reason.endswith(f"; 1 of 2 source(s) could not be read: {second}: no such file")
