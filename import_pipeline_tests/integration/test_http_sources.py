"""Batches whose storage URL is http(s), against a local server on 127.0.0.1.

Plain and gzip bodies import; a connection dropped mid-file is fetched again and resumed
without a second result for any line, but only if the new response has the validators
of the first one (or of the batch's fingerprint, on a re-run); a redirect, a 404, an
oversized body, a connection that keeps dropping and a server that drips bytes each
fail the batch with a message that says so and how many lines were imported before.
"""

import functools
import gzip
import http.server
import threading
import time
from typing import ClassVar

import pytest
import sqlalchemy as sa

from import_pipeline import sources
from import_pipeline.domain.models import ImportRecord, SourceFingerprint
from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.services.batches import process_batch
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.sources import HttpLimits
from import_pipeline.store.tables import import_batch, import_result
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import non_blank_lines, plain_copy, real_file
from import_pipeline_tests.store_access import repository

SOURCE = "synergy_Sep_2021.jsonl.gz"


@functools.cache
def body():
    """The plain (decompressed) bytes of SOURCE: what the server sends, as it is."""
    return plain_copy(real_file(SOURCE)).read_bytes()


def lines_before_a_drop():
    """The lines wholly inside the third of body() that a dropping server sends, and the
    numbers of the non-blank ones among them (the lines that must have results).
    """
    sent = body()[: len(body()) // 3].split(b"\n")[:-1]
    return len(sent), [number for number, text in enumerate(sent, start=1) if text.strip()]


DRIPPED_AFTER = 20  # lines a dripping server sends at once, before it drips
# Validators of a body before and after it changed, and what the new body adds, by how
# the change shows; and what the batch's failure details say changed.
CHANGES = {
    "etag": ({"ETag": '"v1"'}, {"ETag": '"v2"'}, b""),
    "last-modified": (
        {"Last-Modified": "Tue, 01 Dec 2026 08:00:00 GMT"},
        {"Last-Modified": "Tue, 01 Dec 2026 09:00:00 GMT"},
        b"",
    ),
    "length": ({}, {}, b"\n" * 10),  # no validators: only the length can tell
}


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves body() in several ways; counts requests per path."""

    requests: ClassVar[dict[str, int]] = {}
    etag: ClassVar[str] = '"v1"'  # of /versioned.jsonl

    def log_message(self, *args):  # keep test output quiet
        pass

    def do_GET(self):  # noqa: PLR0912 (one branch per path)
        count = self.requests[self.path] = self.requests.get(self.path, 0) + 1
        if self.path == "/plain.jsonl":
            self._send(body())
        elif self.path == "/data.jsonl.gz":
            self._send(gzip.compress(body()))
        elif self.path == "/versioned.jsonl":
            self._send(body(), {"ETag": self.etag})
        elif self.path == "/drops-once.jsonl":
            if count == 1:
                self._drop(body(), {"ETag": '"same"'})
            else:
                self._send(body(), {"ETag": '"same"'})
        elif self.path.startswith("/changes-after-drop/"):
            before, after, added = CHANGES[self.path.rsplit("/", 1)[1]]
            if count == 1:
                self._drop(body(), before)
            else:
                self._send(body() + added, after)
        elif self.path == "/always-drops.jsonl":
            self._drop(body(), {"ETag": '"same"'})
        elif self.path == "/drips.jsonl":
            self._drip(byte_every=0.1)
        elif self.path == "/stalls.jsonl":
            self._drip(byte_every=None)
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

    def _send(self, data, headers=None):
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self, data, headers):
        """Promise everything, send a third, hang up."""
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data[: len(data) // 3])
        self.wfile.flush()
        self.connection.close()

    def _drip(self, byte_every):
        """Send DRIPPED_AFTER lines at once, then a byte every `byte_every` s (None: no
        more), for 30 s at most.
        """
        self.send_response(200)
        self.send_header("Content-Length", str(len(body())))
        self.end_headers()
        sent = len(b"".join(body().splitlines(keepends=True)[:DRIPPED_AFTER]))
        self.wfile.write(body()[:sent])
        self.wfile.flush()
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up:
            time.sleep(byte_every or 0.1)
            if byte_every is None:
                continue
            try:
                self.wfile.write(body()[sent : sent + 1])
                self.wfile.flush()
            except OSError:  # the client gave up, as it should
                break
            sent += 1
        self.close_connection = True


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
        sql_units(engine),
        ImportRecord(source_name="http", processor_name="tests", processor_version="1"),
        [url],
    )
    [batch_id] = start_and_plan(sql_units(engine), record.id, 100)  # http sources stay one batch
    report = process_batch(sql_units(engine), batch_id, chunk_size=50, **kwargs)
    with repository(engine) as imports:
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
    assert batch.source_fingerprint == SourceFingerprint(size=len(body()), etag='"same"')


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_body_changed_between_a_drop_and_the_resume_fails_the_batch(engine, server, change):
    path = f"/changes-after-drop/{change}"
    Handler.requests.pop(path, None)
    _, batch, results = import_url(engine, server + path)

    assert Handler.requests[path] == 2  # the new body is refused, not fetched again
    _, read = lines_before_a_drop()
    assert [r.line_number for r in results] == read  # each line read before the drop
    what = {
        "etag": 'ETag was "v1", now "v2"',
        "last-modified": "Last-Modified was Tue, 01 Dec 2026 08:00:00 GMT, "
        "now Tue, 01 Dec 2026 09:00:00 GMT",
        "length": f"size was {len(body()):,} bytes, now {len(body()) + 10:,}",
    }[change]
    assert batch.status == ImportBatchStatus.FAILED
    assert batch.failure_details == (
        f"source changed since it was registered: {server}{path}: {what}; "
        f"{len(read)} lines of the batch had been imported before that, the rest were not"
    )
    summary = finalise_record(sql_units(engine), batch.import_record_id)
    assert summary.record.status == ImportRecordStatus.FAILED
    assert summary.record.failure_details.startswith(
        f"1 of 1 source(s) changed since it was registered ({len(read)} lines imported): "
        f"{server}{path}: {what}; "
    )


@pytest.mark.parametrize(
    ("etag_on_rerun", "status"),
    [('"v1"', ImportBatchStatus.COMPLETED), ('"v2"', ImportBatchStatus.FAILED)],
    ids=["unchanged", "changed"],
)
def test_a_rerun_holds_an_http_batch_to_the_fingerprint_of_its_first_fetch(
    engine, server, monkeypatch, etag_on_rerun, status
):
    monkeypatch.setattr(Handler, "etag", '"v1"')
    _, batch, _ = import_url(engine, server + "/versioned.jsonl")
    assert batch.status == ImportBatchStatus.COMPLETED
    assert batch.source_fingerprint == SourceFingerprint(size=len(body()), etag='"v1"')
    with engine.begin() as connection:  # a run that died after line 100
        connection.execute(
            sa.delete(import_result).where(
                import_result.c.import_batch_id == batch.id, import_result.c.line_number > 100
            )
        )
        connection.execute(
            sa.update(import_batch)
            .where(import_batch.c.id == batch.id)
            .values(status=ImportBatchStatus.STARTED)
        )
    monkeypatch.setattr(Handler, "etag", etag_on_rerun)

    report = process_batch(sql_units(engine), batch.id, chunk_size=50)

    assert report.status == status
    with repository(engine) as imports:
        lines = sorted(r.line_number for r in imports.list_results(batch_id=batch.id))
    if status == ImportBatchStatus.COMPLETED:
        assert lines == list(range(1, 272))
    else:
        assert lines == list(range(1, 101))
        assert report.failure_details == (
            f"source changed since it was registered: {server}/versioned.jsonl: "
            'ETag was "v1", now "v2"; '
            "100 lines of the batch had been imported before that, the rest were not"
        )


def test_a_connection_that_keeps_dropping_fails_saying_how_many_lines_were_imported(
    engine, server, monkeypatch
):
    monkeypatch.setattr(sources, "HTTP_RESUME_DELAY_SECONDS", 0.01)
    path = "/always-drops.jsonl"
    Handler.requests.pop(path, None)
    _, batch, results = import_url(engine, server + path)

    assert Handler.requests[path] == sources.HTTP_RESUME_ATTEMPTS
    whole, read = lines_before_a_drop()
    assert [r.line_number for r in results] == read
    assert batch.status == ImportBatchStatus.FAILED
    assert batch.failure_details.startswith(
        f"{server}{path}: read failed after line {whole} (IncompleteRead"
    )
    assert batch.failure_details.endswith(
        f"; {len(read)} lines of the batch had been imported before that, the rest were not"
    )
    summary = finalise_record(sql_units(engine), batch.import_record_id)
    assert summary.record.status == ImportRecordStatus.FAILED
    assert summary.record.failure_details.startswith(
        f"1 of 1 source(s) could not be read to the end ({len(read)} lines imported): "
        f"{server}{path}: read failed after line {whole} "
    )
    assert "unreadable" not in summary.record.failure_details


DEADLINE = HttpLimits(deadline_seconds=2, min_bytes_per_second=0)
MISSED_DEADLINE = (
    "not fetched within the deadline of 2 s of waiting for the server "
    "(IMPORT_PIPELINE_HTTP_DEADLINE_SECONDS)"
)


@pytest.mark.parametrize(
    ("path", "limits", "reason"),
    [
        pytest.param("/drips.jsonl", DEADLINE, MISSED_DEADLINE, id="drips-deadline"),
        pytest.param(
            "/drips.jsonl",
            HttpLimits(min_bytes_per_second=1000, rate_window_seconds=1),
            "under the minimum of 1,000 bytes/s (IMPORT_PIPELINE_HTTP_MIN_BYTES_PER_SECOND)",
            id="drips-minimum-rate",
        ),
        pytest.param("/stalls.jsonl", DEADLINE, MISSED_DEADLINE, id="stalls-deadline"),
    ],
)
def test_a_dripping_server_fails_the_batch_within_the_limits(engine, server, path, limits, reason):
    started = time.monotonic()
    _, batch, results = import_url(engine, server + path, http_limits=limits)
    elapsed = time.monotonic() - started

    assert elapsed < 10  # the server would go on for 30 s
    if limits.min_bytes_per_second == 0:
        assert elapsed >= limits.deadline_seconds
    assert batch.status == ImportBatchStatus.FAILED
    assert batch.failure_details.startswith(f"{server}{path}: ")
    assert reason in batch.failure_details
    assert batch.failure_details.endswith(
        f"; {DRIPPED_AFTER} lines of the batch had been imported before that, the rest were not"
    )
    assert [r.line_number for r in results] == list(range(1, DRIPPED_AFTER + 1))


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
