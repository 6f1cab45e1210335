"""Batches whose storage URL is http(s), against a local server on 127.0.0.1.

Plain and gzip bodies import; a connection dropped mid-file is fetched again and resumed
without a second result for any line; a redirect, a 404 and an oversized body each fail
the batch with a message that says so.
"""

import functools
import gzip
import http.server
import threading
from typing import ClassVar

import pytest

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import ImportBatchStatus
from import_pipeline.references.ingest import ingest_chunk
from import_pipeline.services.batches import process_batch
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.store.imports import unit_of_work
from import_pipeline_tests.data_files import non_blank_lines, plain_copy, real_file

SOURCE = "synergy_Sep_2021.jsonl.gz"


@functools.cache
def body():
    """The plain (decompressed) bytes of SOURCE: what the server sends, as it is."""
    return plain_copy(real_file(SOURCE)).read_bytes()


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves body() in several ways; counts requests per path."""

    requests: ClassVar[dict[str, int]] = {}

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):
        count = self.requests[self.path] = self.requests.get(self.path, 0) + 1
        if self.path == "/plain.jsonl":
            self._send(body())
        elif self.path == "/data.jsonl.gz":
            self._send(gzip.compress(body()))
        elif self.path == "/drops-once.jsonl":
            if count == 1:  # promise everything, send a third, hang up
                self.send_response(200)
                self.send_header("Content-Length", str(len(body())))
                self.end_headers()
                self.wfile.write(body()[: len(body()) // 3])
                self.wfile.flush()
                self.connection.close()
            else:
                self._send(body())
        elif self.path == "/no-length.jsonl":  # close-delimited body
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body())
            self.close_connection = True
        elif self.path == "/moved.jsonl":
            self.send_response(302)
            self.send_header("Location", "/plain.jsonl")
            self.end_headers()
        elif self.path == "/huge.jsonl":
            self.send_response(200)
            self.send_header("Content-Length", str(50 * 1024**3))
            self.end_headers()
        else:
            self.send_error(404, "Not Found")

    def _send(self, data):
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def server():
    body()  # a missing data file fails here, not in the server thread
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def import_url(engine, url, **kwargs):
    record, _ = register_import(
        engine,
        ImportRecord(source_name="http", processor_name="tests", processor_version="1"),
        [url],
    )
    [batch_id] = start_and_plan(engine, record.id, 100)  # http sources stay one batch
    report = process_batch(
        engine, batch_id, ingest_chunk, chunk_size=50, final_attempt=False, **kwargs
    )
    with unit_of_work(engine) as imports:
        batch = imports.get_batch(batch_id)
        results = imports.list_results(batch_id=batch_id)
    return report, batch, results


@pytest.mark.parametrize("path", ["/plain.jsonl", "/data.jsonl.gz"])
def test_plain_and_gzip_bodies_import(engine, server, path):
    _, batch, results = import_url(engine, server + path)
    assert batch.status == ImportBatchStatus.COMPLETED
    assert len(results) == non_blank_lines(real_file(SOURCE)) == 271


def test_dropped_connection_resumes_without_duplicates(engine, server):
    Handler.requests.pop("/drops-once.jsonl", None)
    _, batch, results = import_url(engine, server + "/drops-once.jsonl")
    assert Handler.requests["/drops-once.jsonl"] == 2
    assert batch.status == ImportBatchStatus.COMPLETED
    assert sorted(r.line_number for r in results) == list(range(1, 272))


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/moved.jsonl", "HTTP 302 redirect to"),
        ("/missing.jsonl", "HTTP 404 Not Found"),
        ("/huge.jsonl", "is over the limit of 1000000 bytes"),
    ],
)
def test_unreadable_urls_fail_the_batch_saying_why(engine, server, path, message):
    _, batch, results = import_url(engine, server + path, http_max_bytes=1_000_000)
    assert batch.status == ImportBatchStatus.FAILED
    assert batch.failure_details.startswith(server + path)
    assert message in batch.failure_details
    assert results == []


def test_oversized_body_without_a_length_is_cut_off(engine, server):
    _, batch, results = import_url(
        engine, server + "/no-length.jsonl", http_max_bytes=len(body()) // 2
    )
    assert batch.status == ImportBatchStatus.FAILED
    read = len(results)
    assert 0 < read < 271
    assert sorted(r.line_number for r in results) == list(range(1, read + 1))  # each read line
    assert batch.failure_details == (
        f"{server}/no-length.jsonl: body is over the limit of {len(body()) // 2} bytes; "
        f"{read} lines of the batch had been imported before that, the rest were not"
    )
