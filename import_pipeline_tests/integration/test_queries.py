"""The read services the API's routes call, on both stores: one transaction each, same answers.

The routes reach the store only through these; the route tests cover their HTTP side.
"""

import uuid
from importlib import resources

import pytest

from import_pipeline.domain.errors import RecordClosedError, UnknownBatchError, UnknownRecordError
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import FinalisedBy
from import_pipeline.services.batches import process_batch
from import_pipeline.services.finalise import batch_counts, summarise
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.queries import (
    batch_summary,
    list_records,
    record_report,
    record_summary,
)
from import_pipeline.services.registration import (
    check_open_for_batches,
    open_record,
    register_import,
)
from import_pipeline.services.results_pages import InvalidCursorError, read_results
from import_pipeline.store.dedup import SqlDedupStore
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.store_access import repository

UNKNOWN = uuid.UUID(int=9)


@pytest.fixture
def imported(engine):
    """A record of the demo sample in batches of 20, imported."""
    with resources.as_file(resources.files("import_pipeline.samples") / "demo.jsonl") as demo:
        record, _ = register_import(
            sql_units(engine),
            ImportRecord(source_name="queries", processor_name="tests", processor_version="1"),
            [str(demo)],
        )
        for batch_id in start_and_plan(sql_units(engine), record.id, batch_size=20):
            process_batch(sql_units(engine), batch_id, chunk_size=10)
    return record


def test_a_report_is_the_summary_with_its_batch_counts(engine, imported):
    report = record_report(sql_units(engine), imported.id)
    with repository(engine) as imports:
        summary = summarise(imports, imported.id, SqlDedupStore(imports.connection))
        assert report.batch_counts == batch_counts(imports, summary)
    assert report.summary == summary == record_summary(sql_units(engine), imported.id)
    assert len(report.batch_counts) == 3


def test_a_batch_summary_is_only_found_under_its_record(engine, imported):
    first = record_summary(sql_units(engine), imported.id).batches[0]
    assert batch_summary(sql_units(engine), imported.id, first.id, 10).counts["completed"] == 20
    with pytest.raises(UnknownBatchError):
        batch_summary(sql_units(engine), imported.id, UNKNOWN, 10)
    with pytest.raises(UnknownRecordError):
        batch_summary(sql_units(engine), UNKNOWN, first.id, 10)


def test_results_by_offset_and_by_cursor_agree(engine, imported):
    first = read_results(sql_units(engine), imported.id, limit=5)
    cursor = f"{first[-1].import_batch_id}.{first[-1].line_number}"
    assert read_results(sql_units(engine), imported.id, limit=5, cursor=cursor) == read_results(
        sql_units(engine), imported.id, limit=5, offset=5
    )
    with pytest.raises(InvalidCursorError, match="either a cursor or an offset"):
        read_results(sql_units(engine), imported.id, limit=5, cursor=cursor, offset=5)
    for offset in (0, 5):
        with pytest.raises(UnknownRecordError):
            read_results(sql_units(engine), UNKNOWN, limit=5, offset=offset)


def test_records_are_listed_newest_first_and_checked_before_batches(engine, imported):
    later = open_record(
        sql_units(engine),
        ImportRecord(
            source_name="later",
            processor_name="tests",
            processor_version="1",
            finalised_by=FinalisedBy.IMPORTER,
        ),
    )
    assert [record.id for record in list_records(sql_units(engine), limit=10)] == [
        later.id,
        imported.id,
    ]
    assert [record.id for record in list_records(sql_units(engine), limit=10, offset=1)] == [
        imported.id
    ]
    assert check_open_for_batches(sql_units(engine), later.id) == later
    with pytest.raises(RecordClosedError):
        check_open_for_batches(sql_units(engine), imported.id)  # finalised by its run
    with pytest.raises(UnknownRecordError):
        check_open_for_batches(sql_units(engine), UNKNOWN)
