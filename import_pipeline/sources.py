"""Reading batch sources: local paths, `file://` and `http(s)://` URLs, plain or gzip.

Lines are streamed as bytes with their 1-based line numbers (blank lines count but are
not yielded), so memory stays flat whatever the file size. Gzip is detected by its
magic bytes, not by the name. Every failure to read raises `SourceUnreadableError`
with a message naming the source and, where known, the line.
"""

import gzip
import io
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast
from urllib.parse import unquote, urlsplit

from import_pipeline.domain.errors import SourceUnreadableError

_GZIP_MAGIC = b"\x1f\x8b"
HTTP_TIMEOUT_SECONDS = 60
# Large reads: each read releases and re-takes the GIL, which the batch's writer thread
# holds much of the time, so few big reads beat many small ones by far.
READ_BUFFER_BYTES = 1 << 20


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Refuse redirects: a storage URL must name the data itself."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]  # noqa: PLR0917 (urllib's signature)
        raise urllib.error.HTTPError(
            req.full_url, code, f"redirect to {newurl} refused", headers, fp
        )


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
def _open_raw(storage_url: str) -> Iterator[io.BufferedIOBase]:
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
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            handle = opener.open(storage_url, timeout=HTTP_TIMEOUT_SECONDS)
        except urllib.error.HTTPError as error:
            raise SourceUnreadableError(f"{storage_url}: HTTP {error.code} {error.msg}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise SourceUnreadableError(f"{storage_url}: cannot fetch ({reason})") from None
    with handle:
        yield handle


@contextmanager
def open_source(storage_url: str) -> Iterator[io.BufferedIOBase]:
    """Open a source for reading decompressed bytes (files and HTTP responses can peek)."""
    with _open_raw(storage_url) as raw:
        if raw.peek(2)[:2] == _GZIP_MAGIC:  # type: ignore[attr-defined]
            with (
                gzip.GzipFile(fileobj=raw, mode="rb") as unzipped,
                io.BufferedReader(cast(io.RawIOBase, unzipped), READ_BUFFER_BYTES) as buffered,
            ):
                yield buffered
        else:
            yield raw


def iter_source_lines(
    storage_url: str, line_start: int | None = None, line_end: int | None = None
) -> Iterator[tuple[int, bytes]]:
    """Yield `(line_number, line)` for the non-blank lines in `[line_start, line_end]`."""
    first = line_start or 1
    line_number = 0
    try:
        with open_source(storage_url) as stream:
            for line_number, line in enumerate(stream, start=1):
                if line_number < first:
                    continue
                if line_end is not None and line_number > line_end:
                    break
                if line.strip():
                    yield line_number, line
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise SourceUnreadableError(
            f"{storage_url}: corrupt gzip data after line {line_number} ({error})"
        ) from None
    except OSError as error:
        raise SourceUnreadableError(
            f"{storage_url}: read failed after line {line_number} ({error})"
        ) from None


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
