"""Fetching HTTP(S) sources: no redirects, vetted peers, a deadline, a minimum rate, validators.

A fetch is one `HttpTransfer`, which lasts across the resumes after dropped connections
(see `sources.iter_source_lines`): its clock counts the time spent waiting for the
server, and each response's ETag / Last-Modified and Content-Length must be those of
the batch's fingerprint (or of the first response), so that a resumed body is the same
body.
"""

import http.client
import io
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from import_pipeline.domain.errors import DomainError, SourceChangedError, SourceUnreadableError
from import_pipeline.domain.models import SourceFingerprint

# Called with the URL and the peer address once a connection is made; raises a
# `DomainError` to refuse it (see `services.storage_policy.StoragePolicy.check_peer`).
PeerCheck = Callable[[str, str], None]
# A fingerprint receiver: called once with an HTTP(S) source's first response's.
FingerprintCallback = Callable[[SourceFingerprint], None]

# The socket timeout of each connection and read (less when the deadline is near).
HTTP_TIMEOUT_SECONDS = 60
# Defaults of `HttpLimits`, sized for multi-GB bodies (see `HttpLimits`).
DEFAULT_HTTP_DEADLINE_SECONDS = 6 * 3600.0
DEFAULT_HTTP_MIN_BYTES_PER_SECOND = 16 * 1024.0
DEFAULT_HTTP_RATE_WINDOW_SECONDS = 60.0


class SourceTooLargeError(SourceUnreadableError):
    """An HTTP(S) source whose body is larger than the configured limit."""


class SourceInterruptedError(SourceUnreadableError):
    """The connection of an HTTP(S) source dropped while its lines were being read."""


class SourceTooSlowError(SourceUnreadableError):
    """An HTTP(S) source that missed its deadline or sent slower than the minimum rate."""


@dataclass(frozen=True)
class HttpLimits:
    """How long, and how slowly, an HTTP(S) source may be fetched.

    `deadline_seconds` bounds the time spent waiting for the server (connecting and
    waiting for bytes, summed over the resumes after drops); time the import spends
    writing lines does not count, so a slow database never fails a healthy download.
    Whenever `rate_window_seconds` of such waiting have passed, the bytes received in
    them must average at least `min_bytes_per_second` (0: no minimum). The defaults
    (6 h; 16 KiB/s over 60 s) let a 10 GiB body through at 0.5 MiB/s and drop a
    server that stalls or drips within about a minute.
    """

    deadline_seconds: float = DEFAULT_HTTP_DEADLINE_SECONDS
    min_bytes_per_second: float = DEFAULT_HTTP_MIN_BYTES_PER_SECOND
    rate_window_seconds: float = DEFAULT_HTTP_RATE_WINDOW_SECONDS


class HttpTransfer:
    """One HTTP(S) source's fetch, across its resumes: the deadline's clock and validators.

    Each response must match `expected` (the batch's fingerprint); without one, the
    first response's fingerprint is taken (and handed to `on_fingerprint`) and every
    later one must match it.
    """

    def __init__(
        self,
        storage_url: str,
        limits: HttpLimits,
        expected: SourceFingerprint | None = None,
        on_fingerprint: FingerprintCallback | None = None,
    ) -> None:
        """Start the clock of a fetch of `storage_url` under `limits`."""
        self.storage_url = storage_url
        self.limits = limits
        self.expected = expected
        self.on_fingerprint = on_fingerprint
        self.waited_seconds = 0.0
        self.bytes_received = 0

    def timeout(self) -> float:
        """The socket timeout of the next connection: 60 s, or less if the deadline is near."""
        return max(
            0.1, min(HTTP_TIMEOUT_SECONDS, self.limits.deadline_seconds - self.waited_seconds)
        )

    def check_deadline(self) -> None:
        """Raise `SourceTooSlowError` once the time spent waiting is over the deadline."""
        if self.waited_seconds > self.limits.deadline_seconds:
            raise SourceTooSlowError(
                f"{self.storage_url}: not fetched within the deadline of "
                f"{self.limits.deadline_seconds:g} s of waiting for the server "
                f"(IMPORT_PIPELINE_HTTP_DEADLINE_SECONDS); {self.bytes_received:,} bytes received"
            )

    def accept(self, headers: Any) -> None:
        """Check a response's validators against the fingerprint, or take it from them."""
        seen = response_fingerprint(headers)
        if self.expected is None:
            self.expected = seen
            if self.on_fingerprint is not None:
                self.on_fingerprint(seen)
            return
        changes = self.expected.changes_to(seen)
        if changes:
            raise SourceChangedError(self.storage_url, changes)


def response_fingerprint(headers: Any) -> SourceFingerprint:
    """What identifies an HTTP(S) response's body: its validators and Content-Length."""
    declared = headers.get("Content-Length")
    return SourceFingerprint(
        size=int(declared) if declared and declared.isdigit() else None,
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
    )


class _Limited(io.RawIOBase):
    """A raw stream over an HTTP response: fails past `limit` bytes or short of its length.

    Each read makes at most one system call (`read1`), so that the transfer's clock is
    looked at whenever bytes arrive, however slowly they come.
    """

    def __init__(self, response: Any, limit: int, transfer: HttpTransfer) -> None:
        self._response = response
        self._limit = limit
        self._transfer = transfer
        self._url = transfer.storage_url
        self._seen = 0
        declared = response.headers.get("Content-Length")
        self._expected = int(declared) if declared and declared.isdigit() else None
        self._window_seconds = 0.0
        self._window_bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        started = time.monotonic()
        try:
            data = self._response.read1(len(buffer))
        finally:
            waited = time.monotonic() - started
            self._transfer.waited_seconds += waited
        count = len(data)
        buffer[:count] = data
        self._seen += count
        self._transfer.bytes_received += count
        self._transfer.check_deadline()
        self._check_rate(waited, count)
        if count == 0 and self._expected is not None and self._seen < self._expected:
            # http.client returns end-of-file here, not an error, when a peer hangs up.
            raise http.client.IncompleteRead(b"", self._expected - self._seen)
        if self._seen > self._limit:
            raise SourceTooLargeError(f"{self._url}: body is over the limit of {self._limit} bytes")
        return count

    def _check_rate(self, waited: float, count: int) -> None:
        """Raise `SourceTooSlowError` when a full window of waiting brought too few bytes."""
        limits = self._transfer.limits
        self._window_seconds += waited
        self._window_bytes += count
        if self._window_seconds <= 0 or self._window_seconds < limits.rate_window_seconds:
            return
        rate = self._window_bytes / self._window_seconds
        if rate < limits.min_bytes_per_second:
            raise SourceTooSlowError(
                f"{self._url}: the server sent {rate:,.1f} bytes/s over "
                f"{self._window_seconds:.1f} s, under the minimum of "
                f"{limits.min_bytes_per_second:,g} bytes/s "
                f"(IMPORT_PIPELINE_HTTP_MIN_BYTES_PER_SECOND); "
                f"{self._transfer.bytes_received:,} bytes received"
            )
        self._window_seconds, self._window_bytes = 0.0, 0

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


def open_http(
    storage_url: str, max_bytes: int, peer_check: PeerCheck | None, transfer: HttpTransfer
) -> io.RawIOBase:
    """Fetch an HTTP(S) source and check its response; the body is read from the result.

    Raises `SourceUnreadableError` (or a subclass) naming the source and the reason.
    """
    opener = _checked_opener(storage_url, peer_check)
    started = time.monotonic()
    try:
        response = opener.open(storage_url, timeout=transfer.timeout())
    except DomainError as error:
        raise SourceUnreadableError(f"{storage_url}: {error}") from None
    except urllib.error.HTTPError as error:
        raise SourceUnreadableError(f"{storage_url}: HTTP {error.code} {error.msg}") from None
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as error:
        transfer.waited_seconds += time.monotonic() - started
        transfer.check_deadline()  # a connection that timed out at the deadline says so
        reason = getattr(error, "reason", error)
        raise SourceUnreadableError(f"{storage_url}: cannot fetch ({reason})") from None
    transfer.waited_seconds += time.monotonic() - started
    try:
        transfer.check_deadline()
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > max_bytes:
            raise SourceTooLargeError(
                f"{storage_url}: body of {declared} bytes is over the limit of {max_bytes} bytes"
            )
        transfer.accept(response.headers)
    except SourceUnreadableError:
        response.close()
        raise
    return _Limited(response, max_bytes, transfer)
