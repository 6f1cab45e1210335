"""Reading batch sources: local paths, `file://` and `http(s)://` URLs, plain or gzip.

Lines are streamed as bytes with their 1-based line numbers (blank lines count but are
not yielded), so memory stays flat whatever the file size. Gzip is detected by its
magic bytes, not by the name. Every failure to read raises `SourceUnreadableError`
with a message naming the source and, where known, the line.
"""

import gzip
import http.client
import io
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from import_pipeline.domain.errors import DomainError, SourceUnreadableError

# Called with the URL and the peer address once a connection is made; raises a
# `DomainError` to refuse it (see `services.storage_policy.StoragePolicy.check_peer`).
PeerCheck = Callable[[str, str], None]

_GZIP_MAGIC = b"\x1f\x8b"
HTTP_TIMEOUT_SECONDS = 60
# Large reads: each read releases and re-takes the GIL, which the batch's writer thread
# holds much of the time, so few big reads beat many small ones by far.
READ_BUFFER_BYTES = 1 << 20
DEFAULT_MAX_BYTES = 10 * 1024**3
# Re-opening an HTTP(S) source after its connection dropped mid-file.
HTTP_RESUME_ATTEMPTS = 5
HTTP_RESUME_DELAY_SECONDS = 0.5


class SourceTooLargeError(SourceUnreadableError):
    """An HTTP(S) source whose body is larger than the configured limit."""


class SourceInterruptedError(SourceUnreadableError):
    """The connection of an HTTP(S) source dropped while its lines were being read."""


class _Limited(io.RawIOBase):
    """A raw stream over an HTTP response: fails past `limit` bytes or short of its length."""

    def __init__(self, response: Any, limit: int, url: str) -> None:
        self._response = response
        self._limit = limit
        self._url = url
        self._seen = 0
        declared = response.headers.get("Content-Length")
        self._expected = int(declared) if declared and declared.isdigit() else None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = int(self._response.readinto(buffer))
        if count == 0 and self._expected is not None and self._seen < self._expected:
            # http.client returns end-of-file here, not an error, when a peer hangs up.
            raise http.client.IncompleteRead(b"", self._expected - self._seen)
        self._seen += count
        if self._seen > self._limit:
            raise SourceTooLargeError(f"{self._url}: body is over the limit of {self._limit} bytes")
        return count

    def close(self) -> None:
        self._response.close()
        super().close()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a storage URL must name the data itself."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]  # noqa: PLR0917 (urllib's signature)
        raise urllib.error.HTTPError(
            req.full_url, code, f"redirect to {newurl} refused", headers, fp
        )


def _checked_opener(
    storage_url: str, peer_check: PeerCheck | None
) -> urllib.request.OpenerDirector:
    """An opener refusing redirects and, with `peer_check`, vetting each peer address."""
    if peer_check is None:
        return urllib.request.build_opener(_NoRedirects)
    check: PeerCheck = peer_check  # bound for the connection classes below

    def vetted(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
        class Vetted(base):  # type: ignore[valid-type,misc]
            def connect(self) -> None:
                super().connect()
                check(storage_url, str(self.sock.getpeername()[0]))

        return Vetted

    plain, tls = vetted(http.client.HTTPConnection), vetted(http.client.HTTPSConnection)

    class HTTPHandler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(plain, req)

    class HTTPSHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(tls, req, context=self._context)  # type: ignore[attr-defined]

    return urllib.request.build_opener(_NoRedirects, HTTPHandler, HTTPSHandler)


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


@contextmanager
def _open_raw(
    storage_url: str, max_bytes: int, peer_check: PeerCheck | None = None
) -> Iterator[io.BufferedIOBase]:
    path = local_path(storage_url)
    handle: io.BufferedIOBase
    if path is not None:
        try:
            handle = cast(io.BufferedIOBase, path.open("rb", buffering=READ_BUFFER_BYTES))
        except FileNotFoundError:
            raise SourceUnreadableError(f"{storage_url}: no such file") from None
        except IsADirectoryError:
            raise SourceUnreadableError(f"{storage_url}: is a directory, not a file") from None
        except OSError as error:
            raise SourceUnreadableError(f"{storage_url}: cannot open ({error.strerror})") from None
    else:
        opener = _checked_opener(storage_url, peer_check)
        try:
            response = opener.open(storage_url, timeout=HTTP_TIMEOUT_SECONDS)
        except DomainError as error:
            raise SourceUnreadableError(f"{storage_url}: {error}") from None
        except urllib.error.HTTPError as error:
            raise SourceUnreadableError(f"{storage_url}: HTTP {error.code} {error.msg}") from None
        except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise SourceUnreadableError(f"{storage_url}: cannot fetch ({reason})") from None
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            response.close()
            raise SourceTooLargeError(
                f"{storage_url}: body of {declared} bytes is over the limit of {max_bytes} bytes"
            )
        handle = io.BufferedReader(_Limited(response, max_bytes, storage_url), READ_BUFFER_BYTES)
    with handle:
        yield handle


@contextmanager
def open_source(
    storage_url: str, max_bytes: int = DEFAULT_MAX_BYTES, peer_check: PeerCheck | None = None
) -> Iterator[io.BufferedIOBase]:
    """Open a source for reading decompressed bytes; an HTTP body over `max_bytes` fails.

    `peer_check` vets the address an HTTP(S) connection reached before anything is sent.
    """
    with _open_raw(storage_url, max_bytes, peer_check) as raw:
        if raw.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
            with (
                gzip.GzipFile(fileobj=raw, mode="rb") as unzipped,
                io.BufferedReader(cast(io.RawIOBase, unzipped), READ_BUFFER_BYTES) as buffered,
            ):
                yield buffered
        else:
            yield raw


def _read_lines(  # noqa: PLR0917 (private helper of iter_source_lines)
    storage_url: str,
    first: int,
    line_end: int | None,
    max_bytes: int,
    remote: bool,
    peer_check: PeerCheck | None,
) -> Iterator[tuple[int, bytes]]:
    line_number = 0
    try:
        with open_source(storage_url, max_bytes, peer_check) as stream:
            for line_number, line in enumerate(stream, start=1):
                if line_number < first:
                    continue
                if line_end is not None and line_number > line_end:
                    break
                if line.strip():
                    yield line_number, line
    except SourceUnreadableError:
        raise
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise SourceUnreadableError(
            f"{storage_url}: corrupt gzip data after line {line_number} ({error})"
        ) from None
    except (OSError, http.client.HTTPException) as error:
        kind = SourceInterruptedError if remote else SourceUnreadableError
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
) -> Iterator[tuple[int, bytes]]:
    """Yield `(line_number, line)` for the non-blank lines in `[line_start, line_end]`.

    `peer_check` vets each HTTP(S) connection's peer address (see `open_source`).

    An HTTP(S) source whose connection drops is fetched again (a few times, with a
    pause) and resumes after the last line yielded, so no line is yielded twice.
    """
    remote = local_path(storage_url) is None
    next_line = line_start or 1
    for attempt in range(1, HTTP_RESUME_ATTEMPTS + 1):
        try:
            for line_number, line in _read_lines(
                storage_url, next_line, line_end, max_bytes, remote, peer_check
            ):
                next_line = line_number + 1
                yield line_number, line
            return
        except SourceInterruptedError:
            if attempt == HTTP_RESUME_ATTEMPTS:
                raise
            time.sleep(HTTP_RESUME_DELAY_SECONDS * attempt)


def count_lines(storage_url: str) -> int:
    """The number of lines in a source (blank ones included): one streaming pass."""
    total = 0
    ends_without_newline = False
    try:
        with open_source(storage_url) as stream:
            while block := stream.read(1 << 20):
                total += block.count(b"\n")
                ends_without_newline = not block.endswith(b"\n")
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise SourceUnreadableError(f"{storage_url}: corrupt gzip data ({error})") from None
    except OSError as error:
        raise SourceUnreadableError(f"{storage_url}: read failed ({error})") from None
    return total + (1 if ends_without_newline else 0)
