"""The response shapes exist once: the API's bodies and the CLI's `--json` come from one map.

These tests pin what `api.translate` builds from domain objects (every field of the
DESTINY SDK's models and ours, in the order the surfaces print them), the two ways the
CLI's output has always differed from the API's bodies, and the layering that lets the
CLI use the API's models: no FastAPI behind them, no store behind the routes.
"""

import ast
import datetime
import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from import_pipeline.api.schemas import (
    ImportBatchRead,
    ImportBatchSummary,
    ImportRecordRead,
    ImportResultRead,
)
from import_pipeline.api.translate import (
    batch_read,
    batch_summary_read,
    record_cli_json,
    record_listed,
    record_read,
    result_cli_json,
    result_read,
)
from import_pipeline.domain.models import ImportBatch, ImportRecord, ImportResult
from import_pipeline.domain.statuses import (
    FinalisedBy,
    ImportBatchStatus,
    ImportRecordStatus,
    ImportResultStatus,
    RunBy,
)
from import_pipeline.services.finalise import BatchSummary, RecordSummary

API_PACKAGE = Path(__file__).parents[2] / "import_pipeline" / "api"
WHEN = datetime.datetime(2026, 12, 1, 10, 0, tzinfo=datetime.UTC)
RECORD = ImportRecord(
    source_name="tests",
    processor_name="eppi-importer",
    processor_version="2.1",
    search_string="asthma",
    searched_at=WHEN,
    expected_reference_count=3,
    status=ImportRecordStatus.STARTED,
    finalised_by=FinalisedBy.IMPORTER,
    run_by=RunBy.COMMAND,
    created_at=WHEN,
    updated_at=WHEN,
)
BATCH = ImportBatch(
    import_record_id=RECORD.id,
    storage_url="https://storage.test/a.jsonl",
    line_start=1,
    line_end=20,
    status=ImportBatchStatus.FAILED,
    failure_details="source unreadable: 404",
    created_at=WHEN,
    updated_at=WHEN,
)
COUNTS = {str(status): 0 for status in ImportResultStatus} | {"completed": 2, "failed": 1}
RECORD_COUNTS = COUNTS | {"references_created": 1, "references_matched": 1}
SUMMARY = RecordSummary(RECORD, [BATCH], RECORD_COUNTS, ["Entry 3: bad"])

RECORD_KEYS = [
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
    "batches",
    "results",
    "failure_samples",
    "deduplication",
]
API_BATCH_KEYS = [
    "id",
    "import_record_id",
    "storage_url",
    "status",
    "line_start",
    "line_end",
    "failure_details",
    "created_at",
    "updated_at",
    "import_record",
    "import_results",
    "results",
]


def api_body(model):
    """The body FastAPI sends for `model`: its response model, dumped in JSON mode."""
    return model.model_dump(mode="json")


def test_a_record_reads_every_field_of_its_summary():
    body = api_body(record_read(SUMMARY, {str(BATCH.id): COUNTS}))
    assert list(body) == RECORD_KEYS
    assert "run_by" not in body  # internal: not part of the surfaces
    assert body["id"] == str(RECORD.id)
    assert body["status"] == "started"
    assert body["finalised_by"] == "importer"
    assert body["searched_at"] == "2026-12-01T10:00:00Z"
    assert body["results"] == RECORD_COUNTS
    assert body["failure_samples"] == ["Entry 3: bad"]
    [batch] = body["batches"]
    assert list(batch) == API_BATCH_KEYS
    assert batch["results"] == COUNTS
    assert batch["import_record"] is None and batch["import_results"] is None
    assert batch["failure_details"] == "source unreadable: 404"


def test_a_listed_record_has_no_batches_nor_counts():
    body = api_body(record_listed(RECORD))
    assert list(body) == RECORD_KEYS
    assert body["batches"] is None and body["results"] is None and body["failure_samples"] is None


def test_the_cli_prints_the_api_body_with_its_own_batch_key_order():
    record = record_read(SUMMARY, {str(BATCH.id): COUNTS})
    printed = record_cli_json(record)
    assert printed == api_body(record)
    assert list(printed) == RECORD_KEYS
    assert list(printed["batches"][0]) == [
        "id",
        "import_record_id",
        "storage_url",
        "line_start",
        "line_end",
        "status",
        "failure_details",
        "created_at",
        "updated_at",
        "import_record",
        "import_results",
        "results",
    ]


def test_a_batch_not_counted_has_no_results_key_in_the_cli_and_null_in_the_api():
    record = record_read(SUMMARY)
    assert api_body(record)["batches"][0]["results"] is None
    assert "results" not in record_cli_json(record)["batches"][0]
    assert api_body(batch_read(BATCH))["results"] is None


def test_a_batch_summary_counts_all_six_statuses():
    summary = BatchSummary(BATCH, {"completed": 2, "failed": 1}, ["Entry 3: bad"])
    body = api_body(batch_summary_read(summary))
    assert body == {
        "id": str(BATCH.id),
        "import_batch_id": str(BATCH.id),
        "storage_url": BATCH.storage_url,
        "import_batch_status": "failed",
        "results": {str(status): COUNTS[str(status)] for status in ImportResultStatus},
        "failure_details": ["Entry 3: bad"],
        "batch_failure_details": "source unreadable: 404",
    }


def test_a_result_reads_as_the_api_and_the_cli_print_it():
    result = ImportResult(
        import_batch_id=BATCH.id,
        line_number=7,
        status=ImportResultStatus.COMPLETED,
        reference_id=uuid.uuid4(),
        reference_created=False,
        created_at=WHEN,
        updated_at=WHEN,
    )
    read = result_read(result)
    assert result_cli_json(read) == api_body(read)
    assert json.dumps(result_cli_json(read)) == json.dumps(
        result.model_dump(mode="json") | {"import_batch": None}
    )


# The SDK 0.17 models' fields (/work/shared/spec/destiny-sdk-import-models.md).
SDK_FIELDS = {
    ImportRecordRead: "id search_string searched_at processor_name processor_version notes "
    "expected_reference_count source_name status batches",
    ImportBatchRead: "id storage_url status import_record_id import_record import_results",
    ImportBatchSummary: "id import_batch_id storage_url import_batch_status results "
    "failure_details",
    ImportResultRead: "id reference_id failure_details import_batch status line_number "
    "import_batch_id",
}


@pytest.mark.parametrize("model", list(SDK_FIELDS), ids=lambda model: model.__name__)
def test_every_response_model_has_the_sdk_fields(model):
    assert set(SDK_FIELDS[model].split()) <= set(model.model_fields)


def test_the_cli_uses_the_api_models_without_loading_fastapi():
    code = (
        "import sys, import_pipeline.cli, import_pipeline.api.translate;"
        "print(sorted(m for m in ('fastapi', 'starlette') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_no_api_module_but_the_app_factory_imports_the_store():
    importers = set()
    for module in API_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            if any(name.startswith("import_pipeline.store") for name in names):
                importers.add(module.name)
    assert importers == {"app.py"}
