"""The record services against the in-memory unit of work: no database at all.

Registration, planning, finalising, summaries and results pages, each through the
`UnitOfWork` port only: what a service commits is in the fake's database, what it
raised about left nothing behind.
"""

import uuid

import pytest

from import_pipeline.domain.errors import RecordClosedError, UnknownRecordError
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import (
    FinalisedBy,
    ImportBatchStatus,
    ImportRecordStatus,
    ImportResultStatus,
)
from import_pipeline.services.finalise import (
    UnfinishedBatchesError,
    finalise_record,
    request_finalise,
)
from import_pipeline.services.planning import start_and_plan_batches
from import_pipeline.services.queries import batch_summary, list_records, record_summary
from import_pipeline.services.registration import add_batch, open_record, register_import
from import_pipeline.services.results_pages import InvalidCursorError, read_results
from import_pipeline.services.writer_lease import (
    LeaseKeeper,
    RecordBusyError,
    claim_record,
    release_record,
)
from import_pipeline_tests.fakes import MemoryDatabase


@pytest.fixture
def database():
    return MemoryDatabase()


def new_record(**fields):
    return ImportRecord(
        source_name="tests", processor_name="tests", processor_version="1", **fields
    )


@pytest.fixture
def source(tmp_path):
    """A local source of 10 lines, line 4 blank."""
    path = tmp_path / "refs.jsonl"
    path.write_text("".join("\n" if n == 4 else f'{{"line": {n}}}\n' for n in range(1, 11)))
    return path


def settle(database, batch_id, lines, status=ImportResultStatus.COMPLETED):
    """Write results for `lines` of the batch and mark it as the batch op would."""
    with database.units()() as uow:
        uow.imports.write_results(
            batch_id,
            [
                {
                    "line_number": line,
                    "status": status,
                    "reference_created": status == ImportResultStatus.COMPLETED,
                    "failure_details": None if status == ImportResultStatus.COMPLETED else "bad",
                }
                for line in lines
            ],
        )
        batch = uow.imports.get_batch(batch_id)
        if batch.status == ImportBatchStatus.CREATED:
            batch = batch.moved_to(ImportBatchStatus.STARTED)
            uow.imports.save_batch(batch.moved_to(ImportBatchStatus.COMPLETED))
        uow.commit()


def test_a_unit_of_work_keeps_only_what_it_commits(database):
    units = database.units()
    with units() as uow:
        uow.imports.add_record(new_record())
    assert database.records == {}  # left without commit: rolled back
    with pytest.raises(ZeroDivisionError), units() as uow:
        uow.imports.add_record(new_record())
        uow.commit()
        uow.imports.add_record(new_record())
        _ = 1 / 0
    assert len(database.records) == 1  # the first commit stays, the rest is dropped
    with pytest.raises(RuntimeError, match="not active"):
        _ = uow.imports


def test_registering_stores_the_record_and_one_batch_per_source_once(database, source):
    units = database.units()
    record = new_record()
    registered, batches = register_import(units, record, [str(source), str(source)])
    assert registered == record and len(batches) == 2
    assert database.records[record.id].status == ImportRecordStatus.CREATED
    assert {b.storage_url for b in database.batches.values()} == {str(source.resolve())}
    again, same = register_import(units, new_record(id=record.id), [str(source)], once=True)
    assert again == record and {b.id for b in same} == {b.id for b in batches}
    assert database.commits == 1  # `once` found the record: nothing written


def test_batches_are_added_only_to_open_importer_records(database, source):
    units = database.units()
    with pytest.raises(UnknownRecordError):
        add_batch(units, uuid.uuid4(), str(source))
    by_cli, _ = register_import(units, new_record(), [str(source)])
    with pytest.raises(RecordClosedError, match="finalised by its run"):
        add_batch(units, by_cli.id, str(source))
    importer = open_record(units, new_record(finalised_by=FinalisedBy.IMPORTER))
    batch = add_batch(units, importer.id, str(source))
    assert database.batches[batch.id].import_record_id == importer.id
    assert len(database.batches) == 2  # the refused ones left nothing behind


def test_planning_starts_the_record_and_splits_a_local_source_once(database, source):
    units = database.units()
    record, _ = register_import(units, new_record(), [str(source)])
    planned = start_and_plan_batches(units, record.id, batch_size=4)
    assert [(b.line_start, b.line_end) for b in planned] == [(1, 4), (5, 8), (9, 10)]
    assert all(b.source_fingerprint is not None for b in planned)
    assert database.records[record.id].status == ImportRecordStatus.STARTED
    assert start_and_plan_batches(units, record.id, batch_size=4) == planned  # idempotent
    settle(database, planned[0].id, [1, 2, 3])
    assert [b.id for b in start_and_plan_batches(units, record.id, 4)] == [
        b.id for b in planned[1:]
    ]


def test_finalising_waits_for_every_batch_then_completes_the_record(database, source):
    units = database.units()
    record, _ = register_import(units, new_record(), [str(source)])
    planned = start_and_plan_batches(units, record.id, batch_size=5)
    settle(database, planned[0].id, [1, 2, 3, 5])
    before = dict(database.records)
    with pytest.raises(UnfinishedBatchesError, match="1 unfinished batch"):
        finalise_record(units, record.id)
    assert database.records == before  # refused: nothing written
    settle(database, planned[1].id, [6, 7, 8])
    settle(database, planned[1].id, [9, 10], ImportResultStatus.FAILED)
    summary = finalise_record(units, record.id)
    assert summary.record.status == ImportRecordStatus.COMPLETED
    assert database.records[record.id].status == ImportRecordStatus.COMPLETED
    assert summary.counts["completed"] == 7 and summary.counts["failed"] == 2
    assert summary.counts["references_created"] == 7


def test_an_early_finalise_closes_the_record_and_its_last_run_completes_it(database, source):
    units = database.units()
    record = open_record(units, new_record(finalised_by=FinalisedBy.IMPORTER))
    add_batch(units, record.id, str(source))
    [batch] = start_and_plan_batches(units, record.id, batch_size=100)

    summary = request_finalise(units, record.id)

    assert summary.record.status == ImportRecordStatus.STARTED
    assert database.records[record.id].finalise_requested
    with pytest.raises(RecordClosedError, match="is finalised"):
        add_batch(units, record.id, str(source))
    settle(database, batch.id, [1, 2, 3, 5, 6, 7, 8, 9, 10])
    assert finalise_record(units, record.id).record.status == ImportRecordStatus.COMPLETED


def test_summaries_and_listings_read_what_was_committed(database, source):
    units = database.units()
    first, _ = register_import(units, new_record(), [str(source)])
    second, _ = register_import(units, new_record(), [str(source)])
    [batch] = start_and_plan_batches(units, first.id, batch_size=50)
    settle(database, batch.id, [1, 2])
    settle(database, batch.id, [3], ImportResultStatus.FAILED)
    summary = record_summary(units, first.id)
    assert (summary.counts["completed"], summary.counts["failed"]) == (2, 1)
    assert summary.failure_samples == ["bad"]
    assert batch_summary(units, first.id, batch.id, max_failures=10).failure_details == ["bad"]
    assert [r.id for r in list_records(units, limit=10)] == sorted(
        [first.id, second.id], key=lambda i: database.records[i].created_at, reverse=True
    )
    with pytest.raises(UnknownRecordError):
        record_summary(units, uuid.uuid4())


def test_results_pages_follow_the_cursor_across_batches(database, source):
    units = database.units()
    record, _ = register_import(units, new_record(), [str(source)])
    planned = start_and_plan_batches(units, record.id, batch_size=5)
    settle(database, planned[0].id, [1, 2, 3, 5])
    settle(database, planned[1].id, [6, 7, 8, 9, 10])
    seen, cursor = [], None
    while True:
        page = read_results(units, record.id, limit=3, cursor=cursor)
        if not page:
            break
        seen += [r.line_number for r in page]
        cursor = f"{page[-1].import_batch_id}.{page[-1].line_number}"
    assert seen == [1, 2, 3, 5, 6, 7, 8, 9, 10]
    assert [r.line_number for r in read_results(units, record.id, limit=2, offset=4)] == [6, 7]
    with pytest.raises(InvalidCursorError, match="either a cursor or an offset"):
        read_results(units, record.id, limit=2, cursor=cursor, offset=1)


def test_one_run_holds_a_records_lease_until_it_goes_stale_or_is_released(database):
    units = database.units()
    record = open_record(units, new_record())
    claim_record(units, record.id, "run-a", lease_seconds=30)
    with pytest.raises(RecordBusyError, match="being written by run run-a"):
        claim_record(units, record.id, "run-b", lease_seconds=30)
    # A holder that Dagster says has finished gives the record up at once.
    claim_record(
        units, record.id, "run-b", lease_seconds=30, holder_finished={"run-a"}.__contains__
    )
    assert database.leases[record.id][0] == "run-b"
    release_record(units, record.id, "run-a")  # not the holder: no-op
    assert database.leases[record.id][0] == "run-b"
    release_record(units, record.id, "run-b")
    assert database.leases[record.id][0] is None
    with pytest.raises(UnknownRecordError):
        claim_record(units, uuid.uuid4(), "run-a", lease_seconds=30)


def test_a_lease_keeper_renews_when_due_and_stops_a_run_that_lost_its_lease(database):
    units = database.units()
    record = open_record(units, new_record())
    claim_record(units, record.id, "run-a", lease_seconds=30)
    now = [0.0]
    keeper = LeaseKeeper(units, record.id, "run-a", lease_seconds=30, clock=lambda: now[0])
    commits = database.commits
    keeper.renew()
    assert database.commits == commits  # not due yet: no write
    now[0] = 11.0
    keeper.renew()
    assert database.commits == commits + 1
    with units() as uow:  # another run takes the record over
        uow.imports.set_writer_lease(record.id, "run-b", database.leases[record.id][1])
        uow.commit()
    now[0] = 22.0
    with pytest.raises(RecordBusyError, match="lost its writer lease"):
        keeper.renew()
