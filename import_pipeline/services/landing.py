"""Which files in a landing directory are new sources to import (pure, no Dagster).

A file qualifies when its name ends `.jsonl` or `.jsonl.gz`, it is a regular file, and it
has not changed for `settle_seconds` (so a file still being written is left for a later
look; writers that create the file under another name and rename it are picked up at
once). Each file version (path, size, modification time) maps to one deterministic
import record id, so the same file is imported once, even across daemon restarts.
"""

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from import_pipeline.domain.models import derived_id

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
        return derived_id(_NAMESPACE, f"{self.path.resolve()}|{self.size}|{self.mtime_ns}")

    @property
    def mtime_ns(self) -> int:
        """Modification time in whole nanoseconds (stable in a name)."""
        return int(self.mtime * 1_000_000_000)


@dataclass(frozen=True)
class SourceSettings:
    """Where a landed file's record fields come from: its sidecar, else defaults."""

    source_name: str
    processor_name: str = "landing-directory"
    processor_version: str = "1"
    search_string: str | None = None
    notes: str | None = None
    expected_reference_count: int = -1


def is_source_name(name: str) -> bool:
    """True for `.jsonl` and `.jsonl.gz` files."""
    return name.endswith(SOURCE_SUFFIXES)


def scan_landing_directory(directory: Path) -> list[LandedFile]:
    """The candidate files in `directory` (not recursive); raises OSError if unreadable."""
    found = []
    for entry in sorted(directory.iterdir()):
        if is_source_name(entry.name) and entry.is_file():
            stat = entry.stat()
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


def source_settings(landed: LandedFile) -> SourceSettings:
    """Record fields for a landed file.

    A sidecar `<file>.meta.json` may give `source_name`, `processor_name`,
    `processor_version`, `search_string`, `notes`, `expected_reference_count`; without
    it, the source name is the file name without its suffix. A sidecar that is not a
    JSON object raises `ValueError` naming the file.
    """
    stem = landed.path.name.removesuffix(".gz").removesuffix(".jsonl")
    sidecar = landed.path.with_name(landed.path.name + ".meta.json")
    if not sidecar.exists():
        return SourceSettings(source_name=stem)
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"{sidecar}: unreadable sidecar ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{sidecar}: a sidecar must be a JSON object")
    allowed = set(SourceSettings.__dataclass_fields__)
    unknown = set(data) - allowed
    if unknown:
        raise ValueError(f"{sidecar}: unknown fields {sorted(unknown)}")
    return SourceSettings(**{"source_name": stem, **data})
