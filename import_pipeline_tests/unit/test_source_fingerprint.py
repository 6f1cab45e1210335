"""What a source fingerprint compares, what it costs to take, and the HTTP limits' settings.

A fingerprint compares only what was recorded (a validator a server starts sending is
no change, one it stops sending is); a local file's hashes its first and last 64 KiB,
not the whole file; the deadline and minimum rate are read from the environment and a
bad value names the variable.
"""

import os

import pytest

from import_pipeline.domain.models import SourceFingerprint
from import_pipeline.settings import SettingsError, load_settings
from import_pipeline.sources import EDGE_BLOCK_BYTES, HttpLimits, fingerprint_file

FILE = SourceFingerprint(size=2048, mtime_ns=1_796_112_000_123_456_789, edge_hash="ab")


@pytest.mark.parametrize(
    ("recorded", "current", "changes"),
    [
        pytest.param(FILE, FILE, [], id="same-file"),
        pytest.param(
            FILE,
            FILE.model_copy(update={"size": 1024, "edge_hash": "cd"}),
            ["size was 2,048 bytes, now 1,024", "its first or last 64 KiB differ"],
            id="file-cut",
        ),
        pytest.param(
            FILE,
            FILE.model_copy(update={"mtime_ns": 1_796_112_000_123_456_790}),
            [
                "modification time was 2026-12-01T08:00:00.123456789Z, "
                "now 2026-12-01T08:00:00.123456790Z"
            ],
            id="file-touched-by-a-nanosecond",
        ),
        pytest.param(
            SourceFingerprint(size=10),
            SourceFingerprint(size=10, etag='"a"', last_modified="Tue, 01 Dec 2026 08:00:00 GMT"),
            [],
            id="validators-gained",
        ),
        pytest.param(
            SourceFingerprint(size=10, etag='"a"'),
            SourceFingerprint(),
            ["size was 10 bytes, now unknown", 'ETag was "a", now none'],
            id="validators-lost",
        ),
        pytest.param(
            SourceFingerprint(etag='W/"a"', last_modified="Tue, 01 Dec 2026 08:00:00 GMT"),
            SourceFingerprint(etag='W/"a"', last_modified="Tue, 01 Dec 2026 09:00:00 GMT"),
            ["Last-Modified was Tue, 01 Dec 2026 08:00:00 GMT, now Tue, 01 Dec 2026 09:00:00 GMT"],
            id="last-modified-moved",
        ),
    ],
)
def test_a_fingerprint_names_each_change_of_what_it_recorded(recorded, current, changes):
    assert recorded.changes_to(current) == changes


def rewrite_byte(path, offset):
    before = path.stat()
    with path.open("r+b") as handle:
        handle.seek(offset)
        old = handle.read(1)
        handle.seek(offset)
        handle.write(b"y" if old != b"y" else b"z")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and time kept


@pytest.mark.parametrize(
    ("offset", "seen"),
    [
        pytest.param(0, True, id="first-block"),
        pytest.param(EDGE_BLOCK_BYTES - 1, True, id="end-of-first-block"),
        pytest.param(5 * EDGE_BLOCK_BYTES, False, id="middle-not-read"),
        pytest.param(10 * EDGE_BLOCK_BYTES - EDGE_BLOCK_BYTES, True, id="last-block"),
        pytest.param(10 * EDGE_BLOCK_BYTES - 1, True, id="last-byte"),
    ],
)
def test_a_file_fingerprint_reads_its_first_and_last_blocks_only(tmp_path, offset, seen):
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"x" * (10 * EDGE_BLOCK_BYTES))
    before = fingerprint_file(str(path))
    rewrite_byte(path, offset)
    after = fingerprint_file(str(path))
    assert (after.size, after.mtime_ns) == (before.size, before.mtime_ns)
    assert (after.edge_hash != before.edge_hash) is seen


def test_small_files_are_hashed_whole(tmp_path):
    path = tmp_path / "small.jsonl"
    path.write_bytes(b"x" * 1000)
    before = fingerprint_file(str(path))
    rewrite_byte(path, 500)
    assert fingerprint_file(str(path)).edge_hash != before.edge_hash


def test_the_http_limits_come_from_the_environment(monkeypatch):
    for name in ("DEADLINE_SECONDS", "MIN_BYTES_PER_SECOND", "RATE_WINDOW_SECONDS"):
        monkeypatch.delenv(f"IMPORT_PIPELINE_HTTP_{name}", raising=False)
    assert load_settings().http_limits == HttpLimits()
    monkeypatch.setenv("IMPORT_PIPELINE_HTTP_DEADLINE_SECONDS", "90")
    monkeypatch.setenv("IMPORT_PIPELINE_HTTP_MIN_BYTES_PER_SECOND", "0")
    monkeypatch.setenv("IMPORT_PIPELINE_HTTP_RATE_WINDOW_SECONDS", "5.5")
    assert load_settings().http_limits == HttpLimits(90, 0, 5.5)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("IMPORT_PIPELINE_HTTP_DEADLINE_SECONDS", "0", "a number > 0; most seconds"),
        ("IMPORT_PIPELINE_HTTP_MIN_BYTES_PER_SECOND", "-1", "a number >= 0; slowest"),
        ("IMPORT_PIPELINE_HTTP_RATE_WINDOW_SECONDS", "soon", "a number > 0; seconds of waiting"),
    ],
)
def test_a_bad_http_limit_names_its_variable(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert str(raised.value).startswith(f"{variable}={value!r} is not valid: expected {expected}")
