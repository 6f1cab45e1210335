"""The one translation from domain objects and service results to the response models.

The routes answer with these models and the CLI's `--json` prints them, so that the
DESTINY SDK-compatible shapes (`api.schemas`) are built in one place. Like the schemas,
this module imports no FastAPI: the CLI imports it without loading the web framework.

The CLI prints the models through `record_cli_json` and `result_cli_json`, which keep
the two ways in which its output has always differed from the API's bodies (the SDK's
models read both): a batch's `status` comes after its line range, and a batch whose
results were not counted (`register --json`) has no `results` key rather than `null`.
"""

from collections.abc import Mapping
from typing import Any

from import_pipeline.api.schemas import (
    DeduplicationDecisionRead,
    ImportBatchRead,
    ImportBatchSummary,
    ImportRecordRead,
    ImportResultRead,
)
from import_pipeline.dedup.stored import ReferenceDecision
from import_pipeline.domain.models import ImportBatch, ImportRecord, ImportResult
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.services.finalise import BatchSummary, RecordSummary


def batch_read(batch: ImportBatch, counts: dict[str, int] | None = None) -> ImportBatchRead:
    """An `ImportBatchRead`, with the batch's results counted by status when given."""
    return ImportBatchRead(
        id=batch.id,
        import_record_id=batch.import_record_id,
        storage_url=batch.storage_url,
        status=batch.status,
        line_start=batch.line_start,
        line_end=batch.line_end,
        failure_details=batch.failure_details,
        created_at=batch.created_at,
        updated_at=batch.updated_at,
        results=counts,
    )


def record_listed(record: ImportRecord) -> ImportRecordRead:
    """An `ImportRecordRead` as `GET /imports` lists it: without batches or counts."""
    return _record_read(record)


def record_read(
    summary: RecordSummary, batch_counts: Mapping[str, dict[str, int]] | None = None
) -> ImportRecordRead:
    """An `ImportRecordRead` with its batches, result counts and failure samples.

    `batch_counts` (by batch id, as `services.finalise.batch_counts` gives them) fills
    each batch's `results`; a batch it does not name has none.
    """
    counts = batch_counts or {}
    return _record_read(
        summary.record,
        batches=[batch_read(batch, counts.get(str(batch.id))) for batch in summary.batches],
        results=summary.counts,
        failure_samples=summary.failure_samples,
        deduplication=summary.decisions,
    )


def _record_read(
    record: ImportRecord,
    *,
    batches: list[ImportBatchRead] | None = None,
    results: dict[str, int] | None = None,
    failure_samples: list[str] | None = None,
    deduplication: dict[str, int] | None = None,
) -> ImportRecordRead:
    return ImportRecordRead(
        id=record.id,
        source_name=record.source_name,
        processor_name=record.processor_name,
        processor_version=record.processor_version,
        search_string=record.search_string,
        searched_at=record.searched_at,
        notes=record.notes,
        expected_reference_count=record.expected_reference_count,
        status=record.status,
        failure_details=record.failure_details,
        finalised_by=record.finalised_by,
        created_at=record.created_at,
        updated_at=record.updated_at,
        batches=batches,
        results=results,
        failure_samples=failure_samples,
        deduplication=deduplication,
    )


def batch_summary_read(summary: BatchSummary) -> ImportBatchSummary:
    """An `ImportBatchSummary`: counts of all six result statuses, zeros included."""
    batch = summary.batch
    return ImportBatchSummary(
        id=batch.id,
        import_batch_id=batch.id,
        storage_url=batch.storage_url,
        import_batch_status=batch.status,
        results={status: summary.counts.get(str(status), 0) for status in ImportResultStatus},
        failure_details=summary.failure_details,
        batch_failure_details=batch.failure_details,
    )


def result_read(result: ImportResult) -> ImportResultRead:
    """An `ImportResultRead` with our status, line number and batch id."""
    return ImportResultRead(
        id=result.id,
        import_batch_id=result.import_batch_id,
        line_number=result.line_number,
        status=result.status,
        reference_id=result.reference_id,
        reference_created=result.reference_created,
        failure_details=result.failure_details,
        duplicate_of=result.duplicate_of,
        created_at=result.created_at,
        updated_at=result.updated_at,
    )


def decision_read(decision: ReferenceDecision) -> DeduplicationDecisionRead:
    """A `DeduplicationDecisionRead` of a stored decision."""
    return DeduplicationDecisionRead(
        reference_id=decision.reference_id,
        determination=decision.determination,
        duplicate_of=decision.duplicate_of,
        score=decision.score,
        evidence=decision.evidence,
        decided_by=str(decision.decided_by),
        record_id=decision.record_id,
        updated_at=decision.updated_at,
    )


# The CLI's `--json` --------------------------------------------------------------------


def record_cli_json(record: ImportRecordRead) -> dict[str, Any]:
    """`record` as the CLI's `--json` prints it (see the module's docstring)."""
    data = record.model_dump(mode="json")
    if data["batches"] is not None:
        data["batches"] = [_cli_batch(batch) for batch in data["batches"]]
    return data


def result_cli_json(result: ImportResultRead) -> dict[str, Any]:
    """`result` as the CLI's `--json` prints it: the API's body."""
    return result.model_dump(mode="json")


def _cli_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """A batch's keys in the CLI's order (`status` after `line_end`), `results` if counted."""
    keys = [key for key in batch if key != "status"]
    keys.insert(keys.index("line_end") + 1, "status")
    return {key: batch[key] for key in keys if key != "results" or batch[key] is not None}
