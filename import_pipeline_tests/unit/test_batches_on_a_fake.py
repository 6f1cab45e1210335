"""Processing a batch against the in-memory unit of work: the batch path with no database.

`process_batch` reaches the import tables and the references domain only through the
unit of work, so the whole line-level contract can be held here: one result per
non-blank line, exact duplicates merged, a bad line costing that line only, a re-run
writing nothing twice, and a transient fault leaving its lines `retrying`.
"""

import json
import uuid

import pytest

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import ImportBatchStatus, ImportResultStatus
from import_pipeline.services.batches import TransientBatchError, process_batch
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.store.errors import TransientDatabaseError
from import_pipeline_tests.fakes import MemoryDatabase, MemoryReferenceStore, MemoryUnitOfWork


def doi_line(doi):
    return json.dumps(
        {"identifiers": [{"identifier_type": "doi", "identifier": doi}], "enhancements": []}
    )


@pytest.fixture
def database():
    return MemoryDatabase()


@pytest.fixture
def source(tmp_path):
    """Eight lines: line 3 blank, line 5 not JSON, line 6 repeats line 1's DOI (case aside)."""
    lines = [
        doi_line("10.1000/one"),
        doi_line("10.1000/two"),
        "",
        doi_line("10.1000/three"),
        "{not json",
        doi_line("10.1000/ONE"),
        doi_line("10.1000/four"),
        doi_line("10.1000/five"),
    ]
    path = tmp_path / "refs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def planned(database, source, batch_size=100):
    record = ImportRecord(source_name="tests", processor_name="tests", processor_version="1")
    record, _ = register_import(database.units(), record, [str(source)])
    return start_and_plan(database.units(), record.id, batch_size)


def results(database):
    return {line: result for (_, line), result in sorted(database.results.items())}


def test_every_non_blank_line_gets_one_result_and_duplicates_merge(database, source):
    [batch_id] = planned(database, source)

    report = process_batch(database.units(), batch_id, chunk_size=3, writers=2)

    found = results(database)
    assert sorted(found) == [1, 2, 4, 5, 6, 7, 8]  # the blank line 3 has none
    assert found[5].status == ImportResultStatus.FAILED
    assert found[5].failure_details.startswith("Entry 5: ")
    assert found[6].reference_id == found[1].reference_id  # merged by canonical DOI
    assert found[6].reference_created is False
    assert len(database.references) == 5
    assert report.status == ImportBatchStatus.PARTIALLY_FAILED
    assert database.batches[batch_id].status == ImportBatchStatus.PARTIALLY_FAILED
    assert database.batches[batch_id].source_lines == 7


def test_a_rerun_of_a_settled_batch_writes_nothing(database, source):
    [batch_id] = planned(database, source)
    process_batch(database.units(), batch_id, chunk_size=3)
    before = (dict(database.results), dict(database.references))

    report = process_batch(database.units(), batch_id, chunk_size=3)

    assert (dict(database.results), dict(database.references)) == before
    assert report.lines_processed == 0


def test_a_range_split_across_batches_keeps_one_result_per_line(database, source):
    batch_ids = planned(database, source, batch_size=3)
    for batch_id in batch_ids:
        process_batch(database.units(), batch_id, chunk_size=2)

    assert len(batch_ids) == 3
    assert sorted(line for _, line in database.results) == [1, 2, 4, 5, 6, 7, 8]
    assert len({result.import_batch_id for result in database.results.values()}) == 3


class FlakyReferences(MemoryReferenceStore):
    """Refuses the chunk holding line `failing_line` with a transient error, once."""

    failing_line = 4
    failed = False

    def ingest(self, lines):
        if not FlakyReferences.failed and any(
            line.line_number == self.failing_line for line in lines
        ):
            FlakyReferences.failed = True
            raise TransientDatabaseError("deadlock detected")
        return super().ingest(lines)


class FlakyUnit(MemoryUnitOfWork):
    @property
    def references(self):
        return FlakyReferences(self._working)


def test_a_transient_fault_leaves_its_lines_retrying_and_a_retry_finishes(database, source):
    [batch_id] = planned(database, source)
    FlakyReferences.failed = False

    with pytest.raises(TransientBatchError, match="deadlock detected"):
        process_batch(lambda: FlakyUnit(database), batch_id, chunk_size=2, writers=1)

    found = results(database)
    assert found[4].status == ImportResultStatus.RETRYING
    assert found[4].failure_details.startswith("Entry 4: retrying after ")
    assert found[4].failure_details.endswith("deadlock detected")
    assert found[1].status == ImportResultStatus.COMPLETED  # the chunk before it committed

    report = process_batch(database.units(), batch_id, chunk_size=2)

    found = results(database)
    assert report.status == ImportBatchStatus.PARTIALLY_FAILED
    assert found[4].status == ImportResultStatus.COMPLETED
    assert sorted(found) == [1, 2, 4, 5, 6, 7, 8]
    assert report.lines_skipped > 0  # what settled before the fault was not redone


def test_an_unknown_batch_is_refused(database):
    with pytest.raises(Exception, match="no import batch with id"):
        process_batch(database.units(), uuid.uuid4(), chunk_size=2)
