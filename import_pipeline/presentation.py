"""JSON shapes of records, batches and results, in the DESTINY SDK's field names.

`record_json` is an `ImportRecordRead` (with `batches` as `ImportBatchRead` objects) plus
our extra keys: `failure_details`, `results` (counts by status, and references created
and matched) and `failure_samples`. `batch_summary_json` is an `ImportBatchSummary`.
`result_json` is an `ImportResultRead` with our `status`, `line_number` and
`import_batch_id`. The SDK's models ignore keys they do not know.
"""

from typing import Any

from import_pipeline.domain.models import ImportBatch, ImportResult
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.services.finalise import RecordSummary

_RECORD_FIELDS = (
    "id",
    "source_name",
    "processor_name",
    "processor_version",
    "search_string",
    "searched_at",
    "notes",
    "expected_reference_count",
    "status",
    "failure_details",
    "finalised_by",
    "created_at",
    "updated_at",
)


def batch_json(batch: ImportBatch, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """An `ImportBatchRead`, with our line range, failure details and optional counts."""
    data = batch.model_dump(mode="json")
    data |= {"import_record": None, "import_results": None}
    if counts is not None:
        data["results"] = counts
    return data


def record_json(
    summary: RecordSummary, batch_counts: dict[str, dict[str, int]] | None = None
) -> dict[str, Any]:
    """An `ImportRecordRead` with batches, result counts and failure samples."""
    data = summary.record.model_dump(mode="json", include=set(_RECORD_FIELDS))
    data["batches"] = [
        batch_json(batch, (batch_counts or {}).get(str(batch.id))) for batch in summary.batches
    ]
    data["results"] = summary.counts
    data["failure_samples"] = summary.failure_samples
    return data


def batch_summary_json(
    batch: ImportBatch, counts: dict[str, int], failure_details: list[str]
) -> dict[str, Any]:
    """An `ImportBatchSummary`: counts of all six result statuses and failure details.

    Our extra `batch_failure_details` says why a whole batch failed (source unreadable).
    """
    return {
        "id": str(batch.id),
        "import_batch_id": str(batch.id),
        "storage_url": batch.storage_url,
        "import_batch_status": str(batch.status),
        "results": {str(status): counts.get(str(status), 0) for status in ImportResultStatus},
        "failure_details": failure_details,
        "batch_failure_details": batch.failure_details,
    }


def result_json(result: ImportResult) -> dict[str, Any]:
    """An `ImportResultRead` with our status, line number and batch id."""
    data = result.model_dump(mode="json")
    data["import_batch"] = None
    return data
