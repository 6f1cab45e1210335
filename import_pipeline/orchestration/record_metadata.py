"""What a finalised record shows in the UI: numbers to plot across imports, and its failures.

Every value that can be a number is one (Dagster plots numeric metadata across a
partitioned asset's materializations), and the failed lines are a table, which the UI
shows as it is, angle brackets included (Markdown would swallow `<suffix>`).
"""

from typing import Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

from import_pipeline.domain.models import ImportBatch, ImportResult
from import_pipeline.services.finalise import RecordSummary

# Failed lines listed in a record's metadata (all of them are in `import-pipeline results`).
FAILURE_TABLE_ROWS = 100

_FAILURES_SCHEMA = TableSchema(
    columns=[
        TableColumn("line", "int", description="The line's number in its source."),
        TableColumn("status", "string", description="failed or partially_failed."),
        TableColumn("details", "string", description="What failed or was dropped, and why."),
        TableColumn("batch", "string", description="The line's batch: file and line range."),
    ]
)


def failures_table(failures: list[ImportResult], batches: list[ImportBatch]) -> MetadataValue:
    """The failed lines as a table: line, status, details, batch (file and line range)."""
    labels = {batch.id: batch.label for batch in batches}
    return MetadataValue.table(
        records=[
            TableRecord(
                {
                    "line": result.line_number,
                    "status": str(result.status),
                    "details": result.failure_details or "",
                    "batch": labels.get(result.import_batch_id, str(result.import_batch_id)),
                }
            )
            for result in failures
        ],
        schema=_FAILURES_SCHEMA,
    )


def record_metadata(
    summary: RecordSummary,
    failures: list[ImportResult],
    *,
    lines_this_run: int,
    batch_seconds: float,
    run_seconds: float,
) -> dict[str, Any]:
    """The record's metadata: counts by status, references, shares, rates and failures.

    `dedup_<determination>` counts the record's new references by deduplication decision.
    """
    record, counts = summary.record, summary.counts
    statuses = {key: value for key, value in counts.items() if not key.startswith("references_")}
    lines = sum(statuses.values())
    failed = counts["failed"] + counts["partially_failed"]
    return {
        "record_id": str(record.id),
        "source_name": record.source_name,
        "processor": f"{record.processor_name} {record.processor_version}",
        "status": str(record.status),
        "batches": len(summary.batches),
        "lines": lines,
        **{f"lines_{status}": count for status, count in statuses.items()},
        "counts_by_status": MetadataValue.json(statuses),
        "failed_share": round(failed / lines, 6) if lines else 0.0,
        "references_created": counts["references_created"],
        "references_matched": counts["references_matched"],
        **{f"dedup_{name}": count for name, count in (summary.decisions or {}).items()},
        "lines_this_run": lines_this_run,
        "lines_per_second": round(lines_this_run / max(run_seconds, 1e-6), 1),
        "batch_lines_per_second": round(lines_this_run / batch_seconds, 1)
        if batch_seconds
        else 0.0,
        "seconds": round(run_seconds, 3),
        "failure_samples": failures_table(failures, summary.batches),
    }
