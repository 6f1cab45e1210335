"""The project's error tree: one root, and the domain's own errors.

Every error the project raises on purpose is an `ImportPipelineError`; what each one
means to a line, to the command line and to the HTTP API is written once, in
`import_pipeline.error_map`. Anything else that escapes is a bug.
"""


class ImportPipelineError(Exception):
    """The root of every error the project raises on purpose."""


class DomainError(ImportPipelineError):
    """Base class of every error the domain rules raise (and of most others)."""


class InvalidDataError(DomainError, ValueError):
    """A value of a source line that the rules refuse (the line's result says why)."""


class NoSourcesError(DomainError):
    """An import was asked for without any source."""


class InvalidPartitionKeyError(DomainError):
    """A partition key that is not an import record id."""


class IllegalTransitionError(DomainError):
    """A status change that the one-way state machine does not allow."""


class UnforeseenStatusMixError(DomainError):
    """Result statuses whose combination has no batch status in the spec's table."""


class RecordClosedError(IllegalTransitionError):
    """A completed or failed import record was asked to accept more batches."""


class UnknownRecordError(DomainError):
    """No import record has the given id."""


class UnknownBatchError(DomainError):
    """No batch with the given id belongs to the given import record."""


class UnknownReferenceError(DomainError):
    """No reference of the repository has the given id."""


class InvalidDecisionError(DomainError):
    """A deduplication decision that cannot hold (a reference a duplicate of itself)."""


class SourceUnreadableError(DomainError):
    """A batch's source cannot be opened or read (missing file, corrupt gzip, bad URL)."""


# How every `SourceChangedError` message starts (a batch's failure details say so).
SOURCE_CHANGED = "source changed since it was registered"


class SourceChangedError(SourceUnreadableError):
    """A source whose content is not the one its batch was planned (or first fetched) from."""

    def __init__(self, storage_url: str, changes: list[str]) -> None:
        """Say what changed, e.g. `size was 2,048 bytes, now 1,024`."""
        super().__init__(f"{SOURCE_CHANGED}: {storage_url}: {'; '.join(changes)}")
