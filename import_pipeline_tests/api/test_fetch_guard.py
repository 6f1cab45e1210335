"""The storage policy again at fetch time: batches registered over HTTP cannot reach a
private address, whatever their host resolved to when they were registered.

The file server listens on 127.0.0.1, standing in for a host that resolved to a public
address at registration and to a private one at fetch time (DNS rebinding).
"""

import os
import shutil
from importlib import resources

import pytest

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import FinalisedBy, ImportBatchStatus
from import_pipeline.services.batches import process_batch
from import_pipeline.services.registration import add_batch, open_record, register_import
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.static_server import self_signed_certificate, serve_directory


def record(finalised_by):
    return ImportRecord(
        source_name="guard",
        processor_name="tests",
        processor_version="1",
        finalised_by=finalised_by,
    )


def importer_batch(engine, url):
    opened = open_record(sql_units(engine), record(FinalisedBy.IMPORTER))
    return add_batch(sql_units(engine), opened.id, url)


def process(engine, batch, policy):
    return process_batch(sql_units(engine), batch.id, chunk_size=50, storage_policy=policy)


@pytest.mark.parametrize(
    ("host", "reached"),
    [
        ("127.0.0.1", "127.0.0.1"),
        # An IPv6 socket reaches the IPv4 server through its IPv4-mapped address.
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1 (IPv4 127.0.0.1)"),
        ("[::ffff:7f00:1]", "::ffff:127.0.0.1 (IPv4 127.0.0.1)"),
    ],
)
def test_an_importer_batch_reaching_a_private_address_fails_saying_why(
    engine, storage, host, reached
):
    url = f"{storage.replace('127.0.0.1', host)}/demo.jsonl"
    batch = importer_batch(engine, url)
    report = process(engine, batch, StoragePolicy())
    assert report.status == ImportBatchStatus.FAILED
    assert report.failure_details == (
        f"{url}: refused: the connection reached non-public address {reached}, "
        "and the host is not allow-listed"
    )


@pytest.mark.parametrize("entry", ["127.0.0.1", "port"])
def test_an_allow_listed_host_is_fetched(engine, storage, entry):
    host_port = storage.removeprefix("http://")
    policy = StoragePolicy.from_entries([host_port if entry == "port" else entry])
    batch = importer_batch(engine, f"{storage}/demo.jsonl")
    assert process(engine, batch, policy).status == ImportBatchStatus.PARTIALLY_FAILED


def test_sources_registered_by_an_operator_are_not_policed(engine, storage):
    _, [batch] = register_import(
        sql_units(engine), record(FinalisedBy.RUN), [f"{storage}/demo.jsonl"]
    )
    assert process(engine, batch, StoragePolicy()).status == ImportBatchStatus.PARTIALLY_FAILED


@pytest.fixture
def tls_storage(tmp_path, monkeypatch):
    """The demo file over https on 127.0.0.1, with a certificate this process trusts."""
    if shutil.which("openssl") is None:
        message = "the openssl command is needed to make a test certificate"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    directory = tmp_path / "tls"
    directory.mkdir()
    with resources.as_file(resources.files("import_pipeline.samples") / "demo.jsonl") as demo:
        shutil.copyfile(demo, directory / "demo.jsonl")
    cert, key = self_signed_certificate(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with serve_directory(directory, tls=(cert, key)) as base_url:
        yield base_url


def test_https_fetches_are_vetted_too(engine, tls_storage):
    refused = process(engine, importer_batch(engine, f"{tls_storage}/demo.jsonl"), StoragePolicy())
    assert refused.status == ImportBatchStatus.FAILED
    assert "reached non-public address 127.0.0.1" in refused.failure_details
    allowed = process(
        engine,
        importer_batch(engine, f"{tls_storage}/demo.jsonl"),
        StoragePolicy.from_entries(["127.0.0.1"]),
    )
    assert allowed.status == ImportBatchStatus.PARTIALLY_FAILED
