"""Status enums, their one-way transitions, and the batch-status projection.

Values are the lower-case strings of the DESTINY SDK's import enums, so that JSON we
emit validates against `destiny_sdk.imports` models.
"""

from collections.abc import Iterable, Mapping
from enum import StrEnum

from import_pipeline.domain.errors import IllegalTransitionError, UnforeseenStatusMixError


class ImportRecordStatus(StrEnum):
    """Lifecycle of one import job."""

    CREATED = "created"
    """Registered; no run has started working on it."""
    STARTED = "started"
    """A run is processing its batches, or more batches may still be added."""
    COMPLETED = "completed"
    """Every batch was processed; lines may still have failed individually."""
    FAILED = "failed"
    """The import could not be carried out (a run failed for good, no source readable)."""


class ImportBatchStatus(StrEnum):
    """Lifecycle of one chunk of source data; derived from its results once started."""

    CREATED = "created"
    """Registered; no line has been processed."""
    STARTED = "started"
    """Some lines are being (or still to be) processed."""
    COMPLETED = "completed"
    """Every line was imported completely."""
    PARTIALLY_FAILED = "partially_failed"
    """Some lines were imported, some failed or were imported only in part."""
    FAILED = "failed"
    """Every line failed, or the source could not be read at all."""


class ImportResultStatus(StrEnum):
    """Outcome of one non-blank source line."""

    CREATED = "created"
    """Known but not yet attempted."""
    STARTED = "started"
    """Being attempted."""
    RETRYING = "retrying"
    """Its transaction hit a transient database error; a retry will settle it."""
    COMPLETED = "completed"
    """The reference was created or merged with everything the line carried."""
    PARTIALLY_FAILED = "partially_failed"
    """The reference was imported without some invalid identifiers or enhancements."""
    FAILED = "failed"
    """Nothing was written for this line; the details say why."""


class FinalisedBy(StrEnum):
    """Who completes a record once its batches are done (spec section 2)."""

    RUN = "run"
    """The run that processes the batches: a record registered with all its sources."""
    IMPORTER = "importer"
    """The importer's explicit finalise call: a record built up batch by batch over HTTP."""


class RunBy(StrEnum):
    """Who starts a record's runs: the daemon's sensors, or the command that registered it."""

    DAEMON = "daemon"
    """Sensors, the schedule, the UI or a backfill: `registered_batches_sensor` runs its
    waiting batches (records registered by `import-pipeline register`, the HTTP API, the
    landing sensor, the schedule)."""
    COMMAND = "command"
    """The `import-pipeline import` command that registered it runs it in its own process;
    no sensor ever starts it, even when that command died (`import-pipeline rerun` does)."""
    PARTITION = "partition"
    """Registered by the first run of a partition named by its source (the UI's "Add
    partition", a backfill over source keys): that partition's runs import it, so no
    sensor starts it under its id; materializing the partition again finishes it."""


_RECORD_TRANSITIONS: Mapping[ImportRecordStatus, frozenset[ImportRecordStatus]] = {
    ImportRecordStatus.CREATED: frozenset({ImportRecordStatus.STARTED, ImportRecordStatus.FAILED}),
    ImportRecordStatus.STARTED: frozenset(
        {ImportRecordStatus.COMPLETED, ImportRecordStatus.FAILED}
    ),
    ImportRecordStatus.COMPLETED: frozenset(),
    ImportRecordStatus.FAILED: frozenset(),
}

_BATCH_TERMINAL = frozenset(
    {ImportBatchStatus.COMPLETED, ImportBatchStatus.PARTIALLY_FAILED, ImportBatchStatus.FAILED}
)
_BATCH_TRANSITIONS: Mapping[ImportBatchStatus, frozenset[ImportBatchStatus]] = {
    ImportBatchStatus.CREATED: frozenset({ImportBatchStatus.STARTED, ImportBatchStatus.FAILED}),
    ImportBatchStatus.STARTED: _BATCH_TERMINAL,
    ImportBatchStatus.COMPLETED: frozenset(),
    ImportBatchStatus.PARTIALLY_FAILED: frozenset(),
    ImportBatchStatus.FAILED: frozenset(),
}

RESULT_TERMINAL_STATUSES = frozenset(
    {ImportResultStatus.COMPLETED, ImportResultStatus.PARTIALLY_FAILED, ImportResultStatus.FAILED}
)
_RESULT_TRANSITIONS: Mapping[ImportResultStatus, frozenset[ImportResultStatus]] = {
    ImportResultStatus.CREATED: frozenset({ImportResultStatus.STARTED}),
    ImportResultStatus.STARTED: RESULT_TERMINAL_STATUSES | {ImportResultStatus.RETRYING},
    ImportResultStatus.RETRYING: RESULT_TERMINAL_STATUSES | {ImportResultStatus.RETRYING},
    ImportResultStatus.COMPLETED: frozenset(),
    ImportResultStatus.PARTIALLY_FAILED: frozenset(),
    ImportResultStatus.FAILED: frozenset(),
}


def check_record_transition(current: ImportRecordStatus, new: ImportRecordStatus) -> None:
    """Raise `IllegalTransitionError` unless a record may move from `current` to `new`."""
    if new not in _RECORD_TRANSITIONS[current]:
        raise IllegalTransitionError(f"import record cannot go from {current} to {new}")


def check_batch_transition(current: ImportBatchStatus, new: ImportBatchStatus) -> None:
    """Raise `IllegalTransitionError` unless a batch may move from `current` to `new`."""
    if new not in _BATCH_TRANSITIONS[current]:
        raise IllegalTransitionError(f"import batch cannot go from {current} to {new}")


def check_result_transition(current: ImportResultStatus, new: ImportResultStatus) -> None:
    """Raise `IllegalTransitionError` unless a result may move from `current` to `new`."""
    if new not in _RESULT_TRANSITIONS[current]:
        raise IllegalTransitionError(f"import result cannot go from {current} to {new}")


def derive_batch_status(
    result_statuses: Iterable[str], *, source_read: bool = False, source_failed: bool = False
) -> ImportBatchStatus:
    """Project a batch's status from the statuses of its results (spec section 2).

    The one place a batch's status is decided. `source_failed`: its source could not be
    read (at all, or to the end, or it changed): `failed`, whatever its results.
    `source_read`: its source was read to the end, so no results means a source without
    a non-blank line: `completed` (otherwise no results means not begun: `created`).
    Accepts enum members or their string values (as read from the database). Raises
    `UnforeseenStatusMixError` for a value or combination the table does not cover,
    rather than guessing.
    """
    if source_failed:
        return ImportBatchStatus.FAILED
    present: set[ImportResultStatus] = set()
    for value in result_statuses:
        try:
            present.add(ImportResultStatus(value))
        except ValueError:
            raise UnforeseenStatusMixError(f"unknown import result status {value!r}") from None
    in_flight = {
        ImportResultStatus.CREATED,
        ImportResultStatus.STARTED,
        ImportResultStatus.RETRYING,
    }
    failed = {ImportResultStatus.FAILED, ImportResultStatus.PARTIALLY_FAILED}
    if not present and source_read:
        return ImportBatchStatus.COMPLETED
    if present <= {ImportResultStatus.CREATED}:
        return ImportBatchStatus.CREATED
    if present & in_flight:
        return ImportBatchStatus.STARTED
    if present == {ImportResultStatus.COMPLETED}:
        return ImportBatchStatus.COMPLETED
    if present <= failed:
        return ImportBatchStatus.FAILED
    if (
        ImportResultStatus.COMPLETED in present
        and present - {ImportResultStatus.COMPLETED} <= failed
    ):
        return ImportBatchStatus.PARTIALLY_FAILED
    raise UnforeseenStatusMixError(  # pragma: no cover - the six statuses are all covered above
        f"no batch status for result statuses {sorted(present)}"
    )
