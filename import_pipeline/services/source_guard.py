"""Holding a batch to the source content it was planned from (spec section 5).

`process_batch` reads a batch's lines through a `SourceGuard`. A local file is compared
with the batch's fingerprint before the reading starts and again after it ends (stat
and two 64 KiB blocks each time, whatever the file's size), and a line range that ends
early fails too; an HTTP(S) source's every response is compared with it. A batch
without a fingerprint (an HTTP(S) source not fetched yet, or a batch planned before
fingerprints existed) gets one the first time it is read. A source that changed fails
the batch with details starting "source changed since it was registered: ", never an
import of old and new lines mixed.

A source that fails part-way (it changed, dropped for good, or was too slow) ends the
reading without an error, so that every line read before it is settled; the failure is
then written into the batch's details with the number of lines imported.
"""

from collections.abc import Iterator

from import_pipeline.domain.errors import SourceUnreadableError
from import_pipeline.domain.models import ImportBatch, SourceFingerprint
from import_pipeline.domain.statuses import RESULT_TERMINAL_STATUSES
from import_pipeline.services.chunk_pipeline import BatchReport, TransientBatchError
from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.settings import get_settings
from import_pipeline.sources import (
    HttpLimits,
    PeerCheck,
    check_file_fingerprint,
    iter_source_lines,
    local_path,
)
from import_pipeline.store.errors import describe_db_error, is_transient_db_error


def lines_phrase(count: int) -> str:
    """`1 line`, `4,000 lines`."""
    return f"{count:,} line" + ("" if count == 1 else "s")


class SourceGuard:
    """A batch's source, checked against its fingerprint when reading starts and ends."""

    def __init__(
        self,
        units: UnitOfWorkFactory,
        batch: ImportBatch,
        http_limits: HttpLimits | None = None,
    ) -> None:
        """Guard `batch`'s reading; an HTTP(S) fetch keeps to `http_limits`.

        Without `http_limits`, an HTTP(S) fetch keeps to the `IMPORT_PIPELINE_HTTP_*`
        settings.
        """
        self._units = units
        self._batch = batch
        self._http_limits = http_limits
        self._path = local_path(batch.storage_url)
        self._fingerprint = batch.source_fingerprint
        self._failure: str | None = None

    def check_start(self) -> bool:
        """Compare a local file with the fingerprint (recording one where there is none).

        False when the file changed or cannot be read; `finish` then gives the reason.
        An HTTP(S) source is compared with each of its responses instead.
        """
        if self._path is None:
            return True
        try:
            current = check_file_fingerprint(self._batch.storage_url, self._fingerprint)
        except SourceUnreadableError as error:
            self._failure = str(error)
            return False
        if self._fingerprint is None:
            self._record(current)
        return True

    def lines(self, *, max_bytes: int, peer_check: PeerCheck | None) -> Iterator[tuple[int, bytes]]:
        """The batch's non-blank source lines (see `sources.iter_source_lines`).

        A failure to read ends them early, without raising: it is kept for `finish`,
        so that the lines read before it are settled first, each with its result.
        """
        batch = self._batch
        limits = self._http_limits
        if self._path is None and limits is None:
            limits = get_settings().http_limits
        try:
            yield from iter_source_lines(
                batch.storage_url,
                batch.line_start,
                batch.line_end,
                max_bytes=max_bytes,
                peer_check=peer_check,
                fingerprint=self._fingerprint,
                on_fingerprint=self._record,
                http_limits=limits,
                offset=batch.source_offset,
            )
        except SourceUnreadableError as error:
            self._failure = str(error)

    def finish(self, report: BatchReport) -> BatchReport:
        """Write the reading's outcome into `report.failure_details`, and return it.

        A local file read to the end is compared with the fingerprint once more (it may
        have changed while it was read). When lines were imported before a failure,
        the details end with how many, and say that the rest were not.
        """
        failure = report.failure_details or self._failure
        if failure is None and self._path is not None:
            try:
                check_file_fingerprint(self._batch.storage_url, self._fingerprint)
            except SourceUnreadableError as error:
                failure = str(error)
        if failure is not None:
            with self._units() as uow:
                counts = uow.imports.count_results(batch_id=self._batch.id)
            imported = sum(counts[str(status)] for status in RESULT_TERMINAL_STATUSES)
            if imported:
                failure += (
                    f"; {lines_phrase(imported)} of the batch had been imported before "
                    "that, the rest were not"
                )
        report.failure_details = failure
        return report

    def _record(self, fingerprint: SourceFingerprint) -> None:
        """Store a fingerprint taken at the first reading (the batch had none).

        A transient database error raises `TransientBatchError`, for the step's retry.
        """
        self._fingerprint = fingerprint
        try:
            with self._units() as uow:
                uow.imports.save_source_fingerprint(self._batch.id, fingerprint)
                uow.commit()
        except Exception as error:
            if not is_transient_db_error(error):
                raise
            raise TransientBatchError(
                f"batch {self._batch.id} ({self._batch.storage_url}), recording its source "
                f"fingerprint: {describe_db_error(error)}"
            ) from error
