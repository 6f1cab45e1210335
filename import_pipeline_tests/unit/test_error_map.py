"""One error tree, one map: every error the project raises on purpose has its outcome."""

import pytest
from fastapi.testclient import TestClient

import import_pipeline.cli
import import_pipeline.orchestration.ops  # noqa: F401
from import_pipeline.api.app import create_app
from import_pipeline.domain.errors import (
    DomainError,
    ImportPipelineError,
    InvalidDataError,
    RecordClosedError,
    SourceChangedError,
    UnknownRecordError,
)
from import_pipeline.domain.fields import FieldError
from import_pipeline.domain.statuses import ImportResultStatus
from import_pipeline.error_map import ERROR_MAP, EXIT_RUN_FAILED, EXIT_USAGE, outcome_of
from import_pipeline.services.chunk_pipeline import TransientBatchError
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.services.writer_lease import RecordBusyError


def project_errors(root=ImportPipelineError):
    for kind in root.__subclasses__():
        yield kind
        yield from project_errors(kind)


ABSTRACT = {DomainError, InvalidDataError}  # bases only: never raised as they are


@pytest.mark.parametrize("kind", sorted(set(project_errors()) - ABSTRACT, key=lambda k: k.__name__))
def test_every_project_error_has_an_outcome(kind):
    assert outcome_of(kind.__new__(kind)) is not None, f"{kind.__name__} is not in the map"


def test_the_most_specific_entry_wins():
    closed = outcome_of(RecordClosedError("x"))
    assert (closed.exit_code, closed.http_status) == (EXIT_USAGE, 409)
    changed = outcome_of(SourceChangedError("file.jsonl", ["size was 2, now 1"]))
    assert changed == ERROR_MAP[SourceChangedError.__mro__[1]]
    assert outcome_of(FieldError("visibility", "expected a string")).result_status == (
        ImportResultStatus.FAILED
    )
    transient = outcome_of(TransientBatchError("deadlock"))
    assert transient.result_status == ImportResultStatus.RETRYING
    assert transient.exit_code == EXIT_RUN_FAILED and transient.http_status == 503
    assert outcome_of(RecordBusyError("busy")).http_status == 409


def test_anything_else_is_unmapped():
    assert outcome_of(ValueError("x")) is None
    assert outcome_of(DomainError("x")) is None
    assert outcome_of(ImportPipelineError("x")) is None


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UnknownRecordError("no import record with id 1"), 404),
        (RecordBusyError("being written"), 409),
        (DomainError("an error nobody mapped"), 500),
        (TransientBatchError("deadlock"), 503),
    ],
)
def test_the_api_answers_what_the_map_says_and_500_for_the_unmapped(engine, error, status):
    app = create_app(
        engine, tokens=[], storage_policy=StoragePolicy.from_entries([]), max_body_bytes=1024
    )

    @app.get("/boom")
    def boom():
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/boom")
    assert response.status_code == status
    if status == 500:
        assert response.json() == {"detail": "internal error; the server log has the details"}
    assert "Traceback" not in response.text
