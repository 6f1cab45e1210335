"""The one-way status machines and the batch-status projection of spec section 2."""

import itertools
import time
import uuid

import pytest

from import_pipeline.domain.errors import IllegalTransitionError, UnforeseenStatusMixError
from import_pipeline.domain.models import ImportBatch, ImportRecord, new_id
from import_pipeline.domain.statuses import (
    ImportBatchStatus as B,
)
from import_pipeline.domain.statuses import (
    ImportRecordStatus as R,
)
from import_pipeline.domain.statuses import (
    ImportResultStatus as S,
)
from import_pipeline.domain.statuses import (
    check_batch_transition,
    check_record_transition,
    check_result_transition,
    derive_batch_status,
)

LEGAL_RECORD = {
    (R.CREATED, R.STARTED),
    (R.CREATED, R.FAILED),
    (R.STARTED, R.COMPLETED),
    (R.STARTED, R.FAILED),
}
LEGAL_BATCH = {
    (B.CREATED, B.STARTED),
    (B.CREATED, B.FAILED),
    (B.STARTED, B.COMPLETED),
    (B.STARTED, B.PARTIALLY_FAILED),
    (B.STARTED, B.FAILED),
}
TERMINAL_RESULTS = {S.COMPLETED, S.PARTIALLY_FAILED, S.FAILED}
LEGAL_RESULT = (
    {(S.CREATED, S.STARTED)}
    | {(S.STARTED, s) for s in TERMINAL_RESULTS | {S.RETRYING}}
    | {(S.RETRYING, s) for s in TERMINAL_RESULTS | {S.RETRYING}}
)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(R, R)))
def test_record_transitions(current, new):
    if (current, new) in LEGAL_RECORD:
        check_record_transition(current, new)
    else:
        with pytest.raises(IllegalTransitionError, match=f"from {current} to {new}"):
            check_record_transition(current, new)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(B, B)))
def test_batch_transitions(current, new):
    if (current, new) in LEGAL_BATCH:
        check_batch_transition(current, new)
    else:
        with pytest.raises(IllegalTransitionError):
            check_batch_transition(current, new)


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
def test_result_transitions(current, new):
    if (current, new) in LEGAL_RESULT:
        check_result_transition(current, new)
    else:
        with pytest.raises(IllegalTransitionError):
            check_result_transition(current, new)


def test_record_model_refuses_backward_move():
    record = ImportRecord(source_name="s", processor_name="p", processor_version="1")
    started = record.moved_to(R.STARTED)
    completed = started.moved_to(R.COMPLETED)
    assert completed.status == R.COMPLETED
    with pytest.raises(IllegalTransitionError):
        completed.moved_to(R.STARTED)


def test_batch_model_moves_forward_only():
    batch = ImportBatch(
        import_record_id=ImportRecord(
            source_name="s", processor_name="p", processor_version="1"
        ).id,
        storage_url="x.jsonl",
    )
    done = batch.moved_to(B.STARTED).moved_to(B.COMPLETED)
    with pytest.raises(IllegalTransitionError):
        done.moved_to(B.STARTED)


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], B.CREATED),
        ([S.CREATED, S.CREATED], B.CREATED),
        ([S.CREATED, S.COMPLETED], B.STARTED),
        ([S.STARTED], B.STARTED),
        ([S.RETRYING, S.COMPLETED, S.FAILED], B.STARTED),
        ([S.COMPLETED, S.COMPLETED], B.COMPLETED),
        ([S.FAILED], B.FAILED),
        ([S.FAILED, S.PARTIALLY_FAILED], B.FAILED),
        ([S.PARTIALLY_FAILED], B.FAILED),
        ([S.COMPLETED, S.FAILED], B.PARTIALLY_FAILED),
        ([S.COMPLETED, S.PARTIALLY_FAILED], B.PARTIALLY_FAILED),
        (["completed", "failed"], B.PARTIALLY_FAILED),
    ],
)
def test_derive_batch_status(results, expected):
    assert derive_batch_status(results) == expected


@pytest.mark.parametrize(
    ("results", "source_read", "source_failed", "expected"),
    [
        ([], False, False, B.CREATED),  # not begun
        ([], True, False, B.COMPLETED),  # read to the end: no non-blank line
        ([], True, True, B.FAILED),  # unreadable at all
        ([S.COMPLETED], True, True, B.FAILED),  # cut short or changed after some lines
        ([S.COMPLETED, S.RETRYING], True, False, B.STARTED),
    ],
)
def test_the_source_s_reading_is_part_of_the_projection(
    results, source_read, source_failed, expected
):
    assert (
        derive_batch_status(results, source_read=source_read, source_failed=source_failed)
        == expected
    )


def test_derive_batch_status_raises_on_unforeseen_value():
    with pytest.raises(UnforeseenStatusMixError, match="cancelled"):
        derive_batch_status([S.COMPLETED, "cancelled"])


def test_new_ids_are_time_ordered_uuid7():
    first = new_id()
    time.sleep(0.002)
    second = new_id()
    assert first.version == 7 and second.version == 7
    assert first.variant == uuid.RFC_4122
    assert first < second
    assert len({new_id() for _ in range(1000)}) == 1000
