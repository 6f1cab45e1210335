"""The test suite's own data files, kept in `import_pipeline_tests/data/` (see its README.md).

Tests name a file by its path in that directory. A missing file fails the test that asks
for it, with a one-line message naming the file; it never stops the whole run and never
turns into a skip. Look files up inside tests or fixtures, not at import time: a failure
while a module is collected would interrupt the run.

Large files are stored gzip-compressed (`.gz`). The importer reads gzip itself (it looks
at the magic bytes), so a test that only imports a source can pass the `.gz` file as it
is. `plain_copy` gives the decompressed bytes in a file where a test needs them (an HTTP
body with its Content-Length, a landing-directory copy), and `open_plain` and
`non_blank_lines` read plain and gzip files alike.
"""

import atexit
import functools
import gzip
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parent / "data"
REAL = "real"
SDK_SAMPLES = "destiny-sdk-samples"

# The real data sets, by file stem: `real/<stem>.jsonl.gz` and `real/<stem>.truth.csv.gz`.
# Listed here, not globbed, so a missing file fails its test instead of vanishing.
REAL_SOURCES: tuple[str, ...] = (
    "bib_dedupe_cytology_screening",
    "bib_dedupe_digital_work",
    "bib_dedupe_haematology",
    "bib_dedupe_pair_cases",
    "bib_dedupe_respiratory",
    "bib_dedupe_special_cases",
    "bib_dedupe_stroke",
    "synergy_Donners_2021",
    "synergy_Meijboom_2021",
    "synergy_Nelson_2002",
    "synergy_Sep_2021",
)
# The DESTINY SDK's `ReferenceFileInput` samples, stored plain (they are small).
SDK_EPPI_SAMPLES: tuple[str, ...] = (
    "eppi_import.jsonl",
    "eppi_import_with_annotations.jsonl",
    "eppi_import_with_raw.jsonl",
)
# Every SDK sample file as stored (`destiny_references.jsonl` is Elasticsearch hits).
SDK_SAMPLE_FILES: tuple[str, ...] = ("destiny_references.jsonl.gz", *SDK_EPPI_SAMPLES)

_GZIP_MAGIC = b"\x1f\x8b"


def _require(path: Path) -> Path:
    """`path` if it is a file; otherwise fail the calling test, naming the file."""
    if not path.is_file():
        pytest.fail(
            f"test data file missing: {path} (the suite keeps its data in "
            "import_pipeline_tests/data; see the README.md there)",
            pytrace=False,
        )
    return path


def data_file(relative: str) -> Path:
    """The path of `data/<relative>`; fails the calling test when that file is missing."""
    return _require(DATA_DIR / relative)


def real_file(name: str) -> Path:
    """The path of `data/real/<name>`, e.g. `real_file("synergy_Sep_2021.jsonl.gz")`."""
    return data_file(f"{REAL}/{name}")


def sdk_sample(name: str) -> Path:
    """The path of `data/destiny-sdk-samples/<name>`, e.g. `sdk_sample("eppi_import.jsonl")`."""
    return data_file(f"{SDK_SAMPLES}/{name}")


@functools.cache
def _cache_dir() -> Path:
    """A temporary directory for decompressed copies: made once per process, removed at exit."""
    path = Path(tempfile.mkdtemp(prefix="import_pipeline_test_data_"))
    owner = os.getpid()

    def remove() -> None:
        """Remove the directory, in the process that made it only (not in a forked child)."""
        if os.getpid() == owner:
            shutil.rmtree(path, ignore_errors=True)

    atexit.register(remove)
    return path


def plain_copy(path: Path) -> Path:
    """A decompressed, read-only copy of the `.gz` data file `path`, made once per process.

    The copy lives in a temporary cache directory, under the same relative path without
    `.gz` (so its name still ends `.jsonl` or `.csv`); a copy found missing is made again.
    Tests must not change it; copy it again (e.g. `shutil.copyfile`) to get a file of
    their own.
    """
    if path.suffix != ".gz":
        raise ValueError(f"{path} is not a .gz file: use it as it is")
    _require(path)
    relative = path.resolve().relative_to(DATA_DIR)  # ValueError outside the data directory
    target = _cache_dir() / relative.with_suffix("")
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
        with gzip.open(path, "rb") as source, partial.open("wb") as sink:
            shutil.copyfileobj(source, sink, 1 << 20)
        partial.chmod(0o444)
        partial.replace(target)  # atomic: a concurrent caller sees all of it or nothing
    return target


@contextmanager
def open_plain(path: Path) -> Iterator[io.BufferedIOBase]:
    """`path` opened for reading bytes, decompressed on the fly if it is gzip (magic bytes)."""
    with path.open("rb") as raw:
        magic = raw.read(2)
        raw.seek(0)
        if magic == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
                yield unzipped
        else:
            yield raw


def non_blank_lines(path: Path) -> int:
    """How many non-blank lines a source file has, plain or gzip."""
    with open_plain(path) as handle:
        return sum(1 for line in handle if line.strip())
