"""Reading batch sources: local paths, `file://` and `http(s)://` URLs, plain or gzip.

Lines are streamed as bytes with their 1-based line numbers (blank lines count but are
not yielded), so memory stays flat whatever the file size. Gzip is detected by its
magic bytes, not by the name. Every failure to read raises `SourceUnreadableError`
with a message naming the source and, where known, the line.

A source's content is identified by a `SourceFingerprint` (spec section 5): a local
file by its size, modification time and a hash of its first and last 64 KiB
(`fingerprint_file`, cheap whatever the size); an HTTP(S) source by its response's
ETag / Last-Modified and Content-Length. A source that no longer matches its
fingerprint raises `SourceChangedError`, so that old and new content are never mixed.
An HTTP(S) fetch is bounded by `HttpLimits`: a deadline on the time spent waiting for
the server and a minimum transfer rate, so that a server dripping bytes cannot hang
an import.
"""

import gzip
import hashlib
import http.client
import io
import os
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

from import_pipeline.domain.errors import SourceChangedError, SourceUnreadableError
from import_pipeline.domain.models import SourceFingerprint
from import_pipeline.http_fetch import (
    FingerprintCallback,
    HttpLimits,
    HttpTransfer,
    PeerCheck,
    SourceInterruptedError,
    SourceTooLargeError,
    SourceTooSlowError,
    open_http,
)

__all__ = [
    "HttpLimits",
    "PeerCheck",
    "SourceChangedError",
    "SourceInterruptedError",
    "SourceTooLargeError",
    "SourceTooSlowError",
    "SourceUnreadableError",
    "check_file_fingerprint",
    "count_lines_and_offsets",
    "fingerprint_file",
    "iter_source_lines",
    "local_path",
    "open_source",
]

_GZIP_MAGIC = b"\x1f\x8b"
# Large reads: each read releases and re-takes the GIL, which the batch's writer thread
# holds much of the time, so few big reads beat many small ones by far.
READ_BUFFER_BYTES = 1 << 20
DEFAULT_MAX_BYTES = 10 * 1024**3
# Re-opening an HTTP(S) source after its connection dropped mid-file.
HTTP_RESUME_ATTEMPTS = 5
HTTP_RESUME_DELAY_SECONDS = 0.5
# A local file's fingerprint hashes this many bytes at its start and at its end.
EDGE_BLOCK_BYTES = 64 * 1024


def local_path(storage_url: str) -> Path | None:
    """The local file a storage URL names, or None for an http(s) URL."""
    parts = urlsplit(storage_url)
    if parts.scheme in {"http", "https"}:
        return None
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme and len(parts.scheme) > 1:
        raise SourceUnreadableError(
            f"{storage_url}: unsupported scheme {parts.scheme!r} (use a path, file:// or http(s)://)"
        )
    return Path(storage_url)


def _open_local(storage_url: str, path: Path) -> io.BufferedIOBase:
    """Open a local source for reading bytes; a failure says why, naming the source."""
    try:
        return cast(io.BufferedIOBase, path.open("rb", buffering=READ_BUFFER_BYTES))
    except FileNotFoundError:
        raise SourceUnreadableError(f"{storage_url}: no such file") from None
    except IsADirectoryError:
        raise SourceUnreadableError(f"{storage_url}: is a directory, not a file") from None
    except OSError as error:
        raise SourceUnreadableError(f"{storage_url}: cannot open ({error.strerror})") from None


@contextmanager
def _open_raw(
    storage_url: str,
    max_bytes: int,
    peer_check: PeerCheck | None = None,
    transfer: HttpTransfer | None = None,
) -> Iterator[io.BufferedIOBase]:
    path = local_path(storage_url)
    if path is not None:
        handle = _open_local(storage_url, path)
    else:
        transfer = transfer or HttpTransfer(storage_url, HttpLimits())
        raw = open_http(storage_url, max_bytes, peer_check, transfer)
        handle = io.BufferedReader(raw, READ_BUFFER_BYTES)
    with handle:
        yield handle


@contextmanager
def open_source(
    storage_url: str,
    max_bytes: int = DEFAULT_MAX_BYTES,
    peer_check: PeerCheck | None = None,
    transfer: HttpTransfer | None = None,
) -> Iterator[io.BufferedIOBase]:
    """Open a source for reading decompressed bytes; an HTTP body over `max_bytes` fails.

    `peer_check` vets the address an HTTP(S) connection reached before anything is sent.
    `transfer` holds an HTTP(S) fetch to its limits and fingerprint (default: the
    default `HttpLimits`, and no fingerprint).
    """
    with _open_raw(storage_url, max_bytes, peer_check, transfer) as raw:
        if raw.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
            with (
                gzip.GzipFile(fileobj=raw, mode="rb") as unzipped,
                io.BufferedReader(cast(io.RawIOBase, unzipped), READ_BUFFER_BYTES) as buffered,
            ):
                yield buffered
        else:
            yield raw


def _ends_early(line_number: int, line_end: int) -> bool:
    """True when a source whose last line is `line_number` ends before a range's `line_end`.

    An empty source is planned as the range (1, 1) (see `planning`): that is not early.
    """
    return line_number < line_end and not (line_number == 0 and line_end == 1)


def _cut_short(storage_url: str, line_number: int, line_end: int, *, within: bool) -> Exception:
    """The error of a line range that ends before its last line: the file was cut short."""
    where = f"within line {line_number:,}" if within else f"after line {line_number:,}"
    return SourceChangedError(
        storage_url,
        [f"it was cut short: reading it ended {where}, before the batch's last line {line_end:,}"],
    )


def _read_lines(  # noqa: PLR0917 (private helper of iter_source_lines)
    storage_url: str,
    first: int,
    line_end: int | None,
    max_bytes: int,
    peer_check: PeerCheck | None,
    transfer: HttpTransfer | None,
    *,
    check_range_end: bool,
    offset: int | None = None,
) -> Iterator[tuple[int, bytes]]:
    line_number = 0
    # With a fingerprint, a range must not end early: its last line must be reached, and
    # not be cut off (only a file's last line can lack its newline).
    end = line_end if check_range_end else None
    try:
        with open_source(storage_url, max_bytes, peer_check, transfer) as stream:
            start = 1
            if offset and first > 1 and stream.seekable():
                stream.seek(offset)  # the start of line `first`
                start, line_number = first, first - 1
            for line_number, line in enumerate(stream, start=start):
                if line_number < first:
                    continue
                if line_end is not None and line_number > line_end:
                    break
                if end is not None and line[-1:] != b"\n" and _ends_early(line_number, end):
                    raise _cut_short(storage_url, line_number, end, within=True)
                if line.strip():
                    yield line_number, line
            else:
                if end is not None and _ends_early(line_number, end):
                    raise _cut_short(storage_url, line_number, end, within=False)
    except SourceUnreadableError:
        raise
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise SourceUnreadableError(
            f"{storage_url}: corrupt gzip data after line {line_number} ({error})"
        ) from None
    except (OSError, http.client.HTTPException) as error:
        kind = SourceUnreadableError if transfer is None else SourceInterruptedError
        raise kind(
            f"{storage_url}: read failed after line {line_number} ({type(error).__name__}: {error})"
        ) from None


def iter_source_lines(
    storage_url: str,
    line_start: int | None = None,
    line_end: int | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    peer_check: PeerCheck | None = None,
    fingerprint: SourceFingerprint | None = None,
    on_fingerprint: FingerprintCallback | None = None,
    http_limits: HttpLimits | None = None,
    offset: int | None = None,
) -> Iterator[tuple[int, bytes]]:
    """Yield `(line_number, line)` for the non-blank lines in `[line_start, line_end]`.

    `offset`, where `line_start` begins in a local source's decompressed bytes (found
    when the batch was planned: `count_lines_and_offsets`), lets the reading start there
    instead of reading every line before the range.

    `peer_check` vets each HTTP(S) connection's peer address (see `open_source`).

    An HTTP(S) source whose connection drops is fetched again (a few times, with a
    pause) and resumes after the last line yielded, so no line is yielded twice; every
    response must carry the validators of the first one, or of `fingerprint` when
    given (else `on_fingerprint` receives the first response's), and the whole fetch
    keeps to `http_limits` (default: `HttpLimits()`). With a `fingerprint`, a local
    line range that ends early (the file was cut short) raises `SourceChangedError`
    instead of yielding fewer lines; the file itself is compared with the fingerprint
    by `check_file_fingerprint`, before and after the reading.
    """
    transfer = None
    if local_path(storage_url) is None:
        transfer = HttpTransfer(
            storage_url, http_limits or HttpLimits(), fingerprint, on_fingerprint
        )
    next_line = line_start or 1
    for attempt in range(1, HTTP_RESUME_ATTEMPTS + 1):
        try:
            for line_number, line in _read_lines(
                storage_url,
                next_line,
                line_end,
                max_bytes,
                peer_check,
                transfer,
                check_range_end=fingerprint is not None,
                offset=offset if transfer is None else None,
            ):
                next_line = line_number + 1
                yield line_number, line
            return
        except SourceInterruptedError:
            if attempt == HTTP_RESUME_ATTEMPTS or transfer is None:
                raise
            time.sleep(HTTP_RESUME_DELAY_SECONDS * attempt)
            transfer.check_deadline()


def fingerprint_file(storage_url: str) -> SourceFingerprint:
    """A local source's fingerprint: size, modification time, hash of its edge blocks.

    Reads at most two blocks of `EDGE_BLOCK_BYTES`, whatever the file's size.
    """
    path = local_path(storage_url)
    if path is None:
        raise ValueError(f"{storage_url} is not a local file")
    with _open_local(storage_url, path) as handle:
        try:
            status = os.fstat(handle.fileno())
            digest = hashlib.blake2b(digest_size=16)
            digest.update(handle.read(EDGE_BLOCK_BYTES))
            if status.st_size > EDGE_BLOCK_BYTES:
                handle.seek(max(EDGE_BLOCK_BYTES, status.st_size - EDGE_BLOCK_BYTES))
                digest.update(handle.read(EDGE_BLOCK_BYTES))
        except OSError as error:
            raise SourceUnreadableError(f"{storage_url}: read failed ({error})") from None
    return SourceFingerprint(
        size=status.st_size, mtime_ns=status.st_mtime_ns, edge_hash=digest.hexdigest()
    )


def check_file_fingerprint(
    storage_url: str, recorded: SourceFingerprint | None
) -> SourceFingerprint:
    """The local source's fingerprint now; raises `SourceChangedError` if it is not `recorded`.

    With no recorded fingerprint there is nothing to compare: the current one is returned.
    """
    current = fingerprint_file(storage_url)
    changes = recorded.changes_to(current) if recorded is not None else []
    if changes:
        raise SourceChangedError(storage_url, changes)
    return current


def count_lines_and_offsets(storage_url: str, every: int) -> tuple[int, list[int]]:
    """The lines of a source (blank ones included), and where lines 1, 1 + `every`, ... start.

    One streaming pass, in blocks. The offsets count the source's decompressed bytes (a
    plain file's: positions to `seek` to, so that a batch of a late line range does not
    read every line before it); none with `every` 0.
    """
    total = 0
    position = 0
    offsets = [0] if every > 0 else []
    ends_without_newline = False
    try:
        with open_source(storage_url) as stream:
            while block := stream.read(1 << 20):
                newlines = block.count(b"\n")
                if every > 0 and total + newlines >= len(offsets) * every:
                    offsets += _starts_in_block(block, total, position, every, len(offsets))
                total += newlines
                position += len(block)
                ends_without_newline = not block.endswith(b"\n")
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise SourceUnreadableError(f"{storage_url}: corrupt gzip data ({error})") from None
    except OSError as error:
        raise SourceUnreadableError(f"{storage_url}: read failed ({error})") from None
    lines = total + (1 if ends_without_newline else 0)
    return lines, [offset for index, offset in enumerate(offsets) if index * every < lines]


def _starts_in_block(
    block: bytes, lines_before: int, position: int, every: int, known: int
) -> list[int]:
    """Offsets of the lines `known * every + 1`, ... whose preceding newline is in `block`.

    Line `n * every + 1` starts after newline number `n * every` of the source; the
    block, at `position`, holds the newlines after the first `lines_before`. Only the
    newlines up to the last wanted one are looked for.
    """
    found = []
    at = -1
    seen = lines_before
    wanted = known * every
    last = lines_before + block.count(b"\n")
    while wanted <= last:
        for _ in range(wanted - seen):
            at = block.find(b"\n", at + 1)
        seen = wanted
        found.append(position + at + 1)
        wanted += every
    return found
