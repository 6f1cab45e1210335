"""Fixtures of the API tests: the app on a real store, a file server, batch processing."""

import secrets
import shutil
import uuid
from collections.abc import Iterator
from importlib import resources

import pytest
from fastapi.testclient import TestClient

from import_pipeline.api.app import create_app
from import_pipeline.services.batches import process_batch
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.static_server import serve_directory

TOKEN = secrets.token_urlsafe(24)
OTHER_TOKEN = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_BODY_BYTES = 4096

RECORD_IN = {
    "search_string": "asthma AND children",
    "searched_at": "2026-11-01T09:30:00Z",
    "processor_name": "eppi-importer",
    "processor_version": "2.1",
    "notes": "API test",
    "expected_reference_count": 50,
    "source_name": "api-tests",
}


@pytest.fixture
def storage(tmp_path) -> Iterator[str]:
    """A file server on 127.0.0.1 with `demo.jsonl` (the bundled 50-line sample)."""
    directory = tmp_path / "storage"
    directory.mkdir()
    with resources.as_file(resources.files("import_pipeline.samples") / "demo.jsonl") as demo:
        shutil.copyfile(demo, directory / "demo.jsonl")
    with serve_directory(directory) as base_url:
        yield base_url


@pytest.fixture
def client(engine, storage) -> Iterator[TestClient]:
    """The API on the parametrised store; the file server and `storage.test` allow-listed."""
    policy = StoragePolicy.from_entries(["storage.test", storage.removeprefix("http://")])
    app = create_app(
        engine, tokens=[TOKEN, OTHER_TOKEN], storage_policy=policy, max_body_bytes=MAX_BODY_BYTES
    )
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


def run_waiting_batches(engine, record_id: str) -> None:
    """What the import job does for the record's partition, without Dagster."""
    record = uuid.UUID(record_id)
    for batch_id in start_and_plan(sql_units(engine), record, batch_size=1000):
        process_batch(sql_units(engine), batch_id, chunk_size=20)
    finalise_record(sql_units(engine), record)
