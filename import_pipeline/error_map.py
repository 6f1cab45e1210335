"""What each of the project's errors means, to a line, to the command line and to the API.

The one map from an error class to its outcome on every surface; the CLI, the HTTP API
and the docs read it, and nothing else decides. An error is looked up by its class and
then its base classes, so the most specific entry wins. An error outside the map is a
bug: the CLI shows its traceback, the API answers 500 with a safe body.

| error | a line's result | CLI exit | HTTP |
|---|---|---|---|
| a line's data refused (`InvalidDataError`; or the database's) | failed | - | 422 |
| unknown record, batch or reference | - | 2 | 404 |
| a duplicate decision pointing back at its own reference | - | 2 | 409 |
| a bad results cursor | - | 2 | 422 |
| a storage URL the policy refuses | - | 2 | 403 |
| a closed record, a backward status change, unfinished batches | - | 2 | 409 |
| another run writes the record | - | 1 | 409 |
| a source that cannot be read or changed | its batch failed | 2 | 422 |
| no source; a bad landed file or partition key | - | 2 | 422 |
| a bad setting, database URL, DAGSTER_HOME or dagster.yaml | - | 2 | 500 |
| a transient fault (deadlock, lost connection, dead worker) | retrying | 1 | 503 |
| a worker's permanent error; results that mix beyond the spec's table | - | 1 | 500 |
| the database unreachable or its schema missing | retrying | 2 | 503 |
"""

from dataclasses import dataclass

import sqlalchemy.exc

from import_pipeline.domain.errors import (
    IllegalTransitionError,
    InvalidDataError,
    InvalidDecisionError,
    InvalidPartitionKeyError,
    NoSourcesError,
    SourceUnreadableError,
    UnforeseenStatusMixError,
    UnknownBatchError,
    UnknownRecordError,
    UnknownReferenceError,
)
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.orchestration.instance import InstanceHomeError
from import_pipeline.services.batch_workers import ShardFailedError
from import_pipeline.services.chunk_pipeline import TransientBatchError
from import_pipeline.services.finalise import UnfinishedBatchesError
from import_pipeline.services.landing import LandedFileError
from import_pipeline.services.results_pages import InvalidCursorError
from import_pipeline.services.storage_policy import StorageUrlRefusedError
from import_pipeline.services.writer_lease import RecordBusyError
from import_pipeline.settings import SettingsError
from import_pipeline.store.engine import DatabaseConfigError
from import_pipeline.store.errors import TransientDatabaseError

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2


@dataclass(frozen=True)
class Outcome:
    """What an error means on each surface."""

    exit_code: int
    """The `import-pipeline` command's exit status."""
    http_status: int
    """The HTTP API's status code."""
    result_status: ImportResultStatus | None = None
    """What a line's result becomes when the error hits it (None: not a line's outcome)."""


_USAGE = Outcome(EXIT_USAGE, 422)
_CONFIGURATION = Outcome(EXIT_USAGE, 500)
_DATABASE_UNUSABLE = Outcome(EXIT_USAGE, 503, ImportResultStatus.RETRYING)
_RUN_FAILED = Outcome(EXIT_RUN_FAILED, 500)  # fails the step; the record stays started

ERROR_MAP: dict[type[BaseException], Outcome] = {
    InvalidDataError: Outcome(EXIT_USAGE, 422, ImportResultStatus.FAILED),
    UnknownRecordError: Outcome(EXIT_USAGE, 404),
    UnknownBatchError: Outcome(EXIT_USAGE, 404),
    UnknownReferenceError: Outcome(EXIT_USAGE, 404),
    InvalidDecisionError: Outcome(EXIT_USAGE, 409),
    InvalidCursorError: _USAGE,
    StorageUrlRefusedError: Outcome(EXIT_USAGE, 403),
    IllegalTransitionError: Outcome(EXIT_USAGE, 409),
    UnfinishedBatchesError: Outcome(EXIT_USAGE, 409),
    RecordBusyError: Outcome(EXIT_RUN_FAILED, 409),
    SourceUnreadableError: Outcome(EXIT_USAGE, 422, ImportResultStatus.FAILED),
    NoSourcesError: _USAGE,
    LandedFileError: _USAGE,
    InvalidPartitionKeyError: _USAGE,
    SettingsError: _CONFIGURATION,
    DatabaseConfigError: _CONFIGURATION,
    InstanceHomeError: _CONFIGURATION,
    TransientBatchError: Outcome(EXIT_RUN_FAILED, 503, ImportResultStatus.RETRYING),
    ShardFailedError: _RUN_FAILED,
    UnforeseenStatusMixError: _RUN_FAILED,
    TransientDatabaseError: Outcome(EXIT_RUN_FAILED, 503, ImportResultStatus.RETRYING),
    sqlalchemy.exc.OperationalError: _DATABASE_UNUSABLE,
    sqlalchemy.exc.ProgrammingError: _DATABASE_UNUSABLE,
}


def outcome_of(error: BaseException) -> Outcome | None:
    """The outcome of `error` (its class's entry, else its nearest base's), or None."""
    for kind in type(error).__mro__:
        if kind in ERROR_MAP:
            return ERROR_MAP[kind]
    return None
