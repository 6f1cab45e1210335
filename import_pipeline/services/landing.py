"""Which files in a landing directory are new sources to import, and as what (no Dagster).

A file qualifies when its name ends `.jsonl` or `.jsonl.gz`, it is a regular file, and it
has not changed for `settle_seconds` (so a file still being written is left for a later
look; writers that create the file under another name and rename it are picked up at
once). Each file version (path, size, modification time) maps to one deterministic
import record id, so the same file is imported once, even across daemon restarts.

A file that cannot be registered as it is (it cannot be opened, its name is not UTF-8
text, or its sidecar is bad) raises `LandedFileError` naming the file and, for a
sidecar, the field: that file waits, and a later look registers it once it is fixed
(changing only the sidecar or the permissions keeps the file's record id).
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from import_pipeline.domain.errors import DomainError
from import_pipeline.domain.models import ImportRecord, derived_id
from import_pipeline.services.input_rules import Name, ReferenceCount, Text

SOURCE_SUFFIXES = (".jsonl", ".jsonl.gz")
_NAMESPACE = uuid.UUID("6f1d3c1e-5b1a-4c5e-9a53-2d4f0e0b7a61")


@dataclass(frozen=True)
class LandedFile:
    """One file found in the landing directory."""

    path: Path
    size: int
    mtime: float

    @property
    def record_id(self) -> uuid.UUID:
        """The import record id of this file version (derived from path, size and mtime)."""
        name = printable(self.path.resolve())  # any file name, even one that is not UTF-8
        return derived_id(_NAMESPACE, f"{name}|{self.size}|{self.mtime_ns}")

    @property
    def mtime_ns(self) -> int:
        """Modification time in whole nanoseconds (stable in a name)."""
        return int(self.mtime * 1_000_000_000)


class LandedFileError(DomainError):
    """A landed file that cannot be registered as it is; the message names it and why."""


class Sidecar(BaseModel):
    """A landed file's optional `<file>.meta.json`: the fields of its import record.

    Strict JSON types: a count is a JSON integer (not `"12"`, `12.0` or `true`), text is
    a JSON string; unknown fields are refused, so a misspelt one is not dropped.
    """

    model_config = ConfigDict(extra="forbid", strict=True)

    source_name: Name | None = Field(
        default=None, description="Where the references come from; default: the file's name."
    )
    processor_name: Name = Field(
        default="landing-directory", description="The program that produced the file."
    )
    processor_version: Name = Field(default="1", description="That program's version.")
    search_string: Text | None = Field(default=None, description="The search that found them.")
    notes: Text | None = Field(default=None, description="Free-text notes.")
    expected_reference_count: ReferenceCount = Field(
        default=-1, description="References the file is expected to hold; -1 when unknown."
    )


def is_source_name(name: str) -> bool:
    """True for `.jsonl` and `.jsonl.gz` files."""
    return name.endswith(SOURCE_SUFFIXES)


def scan_landing_directory(directory: Path) -> list[LandedFile]:
    """The candidate files in `directory` (not recursive); raises OSError if unreadable.

    A file that goes away while the directory is read is left out.
    """
    found = []
    for entry in sorted(directory.iterdir()):
        if not (is_source_name(entry.name) and entry.is_file()):
            continue
        try:
            stat = entry.stat()
        except FileNotFoundError:
            continue
        found.append(LandedFile(entry, stat.st_size, stat.st_mtime))
    return found


def new_sources(
    files: Iterable[LandedFile], known_record_ids: set[str], now: float, settle_seconds: float
) -> list[LandedFile]:
    """The files to import now: settled, and not imported before (by record id)."""
    return [
        landed
        for landed in files
        if now - landed.mtime >= settle_seconds and str(landed.record_id) not in known_record_ids
    ]


def printable(path: Path) -> str:
    """`path` as text that any log can hold (bytes that are not UTF-8 shown as escapes)."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _validation_problems(error: ValidationError) -> str:
    """Each problem as `field: message, got <value>` (the JSON's own problem without field)."""
    problems = []
    for problem in error.errors(include_url=False):
        field = ".".join(str(part) for part in problem["loc"])
        if not field:
            problems.append(problem["msg"])
            continue
        got = repr(problem["input"])
        got = got if len(got) <= 80 else got[:77] + "..."
        problems.append(f"{field}: {problem['msg']}, got {got}")
    return "; ".join(problems)


def read_sidecar(landed: LandedFile) -> Sidecar:
    """The file's sidecar `<file>.meta.json`, or the defaults when it has none.

    Raises `LandedFileError` naming the file, the sidecar and each bad field.
    """
    sidecar = landed.path.with_name(landed.path.name + ".meta.json")
    if not sidecar.exists() and not sidecar.is_symlink():  # a dangling link is a bad sidecar
        return Sidecar()
    where = f"{printable(landed.path)}: sidecar {printable(Path(sidecar.name))}"
    try:
        content = sidecar.read_bytes()
    except OSError as error:
        raise LandedFileError(f"{where} cannot be read ({error.strerror})") from None
    try:
        return Sidecar.model_validate_json(content)
    except ValidationError as error:
        raise LandedFileError(f"{where} is not valid: {_validation_problems(error)}") from None


def landed_record(landed: LandedFile) -> ImportRecord:
    """The import record of a landed file: its sidecar's fields, or the defaults.

    Without a sidecar `source_name`, the source name is the file name without its
    suffix. Raises `LandedFileError` naming the file when it cannot be opened, when its
    name is not UTF-8 text (no database column could store it), or when its sidecar is
    unreadable or invalid (naming each bad field).
    """
    name = printable(landed.path)
    try:
        str(landed.path).encode("utf-8")
    except UnicodeEncodeError:
        raise LandedFileError(f"{name}: the file name is not UTF-8 text; rename it") from None
    try:
        with landed.path.open("rb"):
            pass
    except OSError as error:
        raise LandedFileError(f"{name}: cannot be read ({error.strerror})") from None
    sidecar = read_sidecar(landed)
    source_name = sidecar.source_name or landed.path.name.removesuffix(".gz").removesuffix(".jsonl")
    if not source_name:
        raise LandedFileError(
            f"{name}: source_name: the file name gives none; give one in its sidecar"
        )
    return ImportRecord(
        id=landed.record_id, **(sidecar.model_dump() | {"source_name": source_name})
    )
