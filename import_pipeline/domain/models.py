"""The import domain's entities: ImportRecord -> ImportBatch -> ImportResult.

Field names follow the DESTINY SDK's `ImportRecordRead` / `ImportBatchRead` /
`ImportResultRead`, so `model_dump(mode="json")` is what our JSON surfaces emit.
"""

import datetime
import os
import threading
import time
import uuid
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from import_pipeline.domain.statuses import (
    FinalisedBy,
    ImportBatchStatus,
    ImportRecordStatus,
    ImportResultStatus,
    RunBy,
    check_batch_transition,
    check_record_transition,
)


def utc_now() -> datetime.datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.datetime.now(datetime.UTC)


_VERSION_7 = 0x7 << 76
_RFC_4122_VARIANT = 0x2 << 62
_SEQUENCE_BITS = 12  # rand_a of RFC 9562: here a sequence within one call
_RANDOM_BITS = 62  # rand_b
_stamp_lock = threading.Lock()
_last_stamp = 0  # milliseconds and sequence of the last id made (`uuid7_many`)


def _new_stamp_lock() -> None:
    """A forked child's own lock: one another thread held at the fork would stay held."""
    global _stamp_lock  # noqa: PLW0603
    _stamp_lock = threading.Lock()


os.register_at_fork(after_in_child=_new_stamp_lock)


def uuid7() -> uuid.UUID:
    """A time-ordered UUID version 7 (RFC 9562): 48-bit Unix milliseconds, then random.

    Ids made close in time sit close in a B-tree, so bulk inserts touch few index pages
    (random v4 ids scatter them once the index outgrows the cache).
    """
    return uuid7_many(1)[0]


def uuid7_many(count: int) -> list[uuid.UUID]:
    """`count` UUIDs version 7, ascending in the order given, from one read of randomness.

    The 12 bits after the version count within the millisecond (RFC 9562's method 3; a
    carry moves to the millisecond, which may then run a little ahead of the clock), and
    each call starts after the last id this process made, so a process's ids ascend in
    the order they are made; the other 62 bits are random, drawn from the operating
    system in one call (3.2 us an id in blocks of 2,000, 4.8 one at a time, measured
    alone). So a chunk's new references get ids in line order, and a group's canonical
    reference (the oldest id) is its first line in a worker's share, not a random one
    among those made in the same millisecond.
    """
    global _last_stamp  # noqa: PLW0603 (the process's one clock of ids)
    now = (time.time_ns() // 1_000_000) << _SEQUENCE_BITS
    with _stamp_lock:
        first = max(now, _last_stamp + 1)
        _last_stamp = first + count - 1
    tails = os.urandom(8 * count)
    ids = []
    for position in range(count):
        stamp = first + position  # milliseconds and sequence, 60 bits
        tail = int.from_bytes(tails[8 * position : 8 * position + 8]) >> (64 - _RANDOM_BITS)
        value = (
            (stamp >> _SEQUENCE_BITS & 0xFFFF_FFFF_FFFF) << 80
            | _VERSION_7
            | (stamp & 0xFFF) << 64
            | _RFC_4122_VARIANT
            | tail
        )
        ids.append(uuid.UUID(int=value))
    return ids


def uuid7_stream(block: int = 256) -> Iterator[uuid.UUID]:
    """UUIDs version 7 as needed, `block` at a time (`uuid7_many`): at most `block - 1` unused."""
    while True:
        yield from uuid7_many(block)


def derived_id(namespace: uuid.UUID, name: str) -> uuid.UUID:
    """A deterministic id for `name`, shaped as a UUID v4 (the DESTINY SDK accepts only v4/v7).

    The bytes are those of UUID v5 (SHA-1 of namespace and name); the version and
    variant bits are then set as for v4.
    """
    return uuid.UUID(bytes=uuid.uuid5(namespace, name).bytes, version=4)


def source_file_name(storage_url: str) -> str:
    """The file name a path or URL ends with (the whole text if it ends with none)."""
    return storage_url.rstrip("/").rsplit("/", 1)[-1] or storage_url


def new_id() -> uuid.UUID:
    """A new entity id: a time-ordered UUID v7, which the DESTINY SDK accepts (v4 or v7)."""
    return uuid7()


class ImportRecord(BaseModel):
    """One import job: these references, from this source, searched this way."""

    model_config = ConfigDict(validate_assignment=True)

    id: uuid.UUID = Field(default_factory=new_id, description="The record's id and partition key.")
    source_name: str = Field(min_length=1, description="Where the references come from.")
    processor_name: str = Field(min_length=1, description="The program that produced the file.")
    processor_version: str = Field(min_length=1, description="That program's version.")
    search_string: str | None = Field(default=None, description="The search that found them.")
    searched_at: datetime.datetime = Field(
        default_factory=utc_now, description="When the search was run."
    )
    notes: str | None = Field(default=None, description="Free-text notes of the importer.")
    expected_reference_count: int = Field(
        default=-1, ge=-1, description="How many references the importer expects; -1 unknown."
    )
    status: ImportRecordStatus = Field(
        default=ImportRecordStatus.CREATED, description="Where the import job stands."
    )
    failure_details: str | None = Field(
        default=None, description="Why the record failed, when it did."
    )
    finalised_by: FinalisedBy = Field(
        default=FinalisedBy.RUN,
        description="`run`: completed by the run that processes its batches; `importer`: "
        "stays started until the importer's finalise call (records made over HTTP).",
    )
    finalise_requested: bool = Field(
        default=False,
        description="The importer finalised it while a batch was unfinished (the DESTINY v1 "
        "route): it takes no more batches and completes when the last one is done.",
    )
    run_by: RunBy = Field(
        default=RunBy.DAEMON,
        description="`daemon`: sensors may start its runs; `command`: only the command that "
        "registered it (or `import-pipeline rerun`) does.",
    )
    created_at: datetime.datetime = Field(default_factory=utc_now, description="Registered at.")
    updated_at: datetime.datetime = Field(default_factory=utc_now, description="Last change at.")

    def moved_to(
        self, status: ImportRecordStatus, failure_details: str | None = None
    ) -> "ImportRecord":
        """A copy in `status`; raises `IllegalTransitionError` for a backward move."""
        check_record_transition(self.status, status)
        return self.model_copy(
            update={"status": status, "failure_details": failure_details, "updated_at": utc_now()}
        )


class SourceFingerprint(BaseModel):
    """What identified a batch's source content when the batch was planned or first fetched.

    A local file: its size, modification time and a hash of its first and last blocks.
    An HTTP(S) source: the validators of its response (ETag, Last-Modified) and its
    Content-Length. A field the source does not give is None and is not compared, so a
    server that sends no validators can only be held to its length.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    size: int | None = Field(
        default=None, ge=0, description="Bytes: the file's size, or the response's Content-Length."
    )
    mtime_ns: int | None = Field(
        default=None, description="The file's modification time, in nanoseconds since the epoch."
    )
    edge_hash: str | None = Field(
        default=None,
        description="blake2b (hex) of the file's first and last blocks (64 KiB each).",
    )
    etag: str | None = Field(default=None, description="The response's ETag header, as sent.")
    last_modified: str | None = Field(
        default=None, description="The response's Last-Modified header, as sent."
    )

    def changes_to(self, current: "SourceFingerprint") -> list[str]:
        """What differs in `current` from this recorded fingerprint, one phrase per field.

        Only fields recorded here are compared: a validator the source gained since is
        not a change, one it lost is.
        """
        changes = []
        if self.size is not None and current.size != self.size:
            now = "unknown" if current.size is None else f"{current.size:,}"
            changes.append(f"size was {self.size:,} bytes, now {now}")
        if self.mtime_ns is not None and current.mtime_ns != self.mtime_ns:
            changes.append(
                f"modification time was {_ns_time(self.mtime_ns)}, now {_ns_time(current.mtime_ns)}"
            )
        if self.edge_hash is not None and current.edge_hash != self.edge_hash:
            changes.append("its first or last 64 KiB differ")
        for label, recorded, seen in (
            ("ETag", self.etag, current.etag),
            ("Last-Modified", self.last_modified, current.last_modified),
        ):
            if recorded is not None and seen != recorded:
                changes.append(f"{label} was {recorded}, now {seen or 'none'}")
        return changes


def _ns_time(nanoseconds: int | None) -> str:
    """A modification time in nanoseconds as UTC ISO 8601 to the nanosecond, or "unknown"."""
    if nanoseconds is None:
        return "unknown"
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction:09d}Z"


class ImportBatch(BaseModel):
    """One chunk of a record's source data: a whole file or URL, or a line range of it."""

    id: uuid.UUID = Field(default_factory=new_id, description="The batch's id.")
    import_record_id: uuid.UUID = Field(description="The record the batch belongs to.")
    storage_url: str = Field(min_length=1, description="Local path, file:// or http(s):// URL.")
    line_start: int | None = Field(
        default=None, ge=1, description="First source line of the batch (1-based); None: line 1."
    )
    line_end: int | None = Field(
        default=None, ge=1, description="Last source line, inclusive; None: to the end of the file."
    )
    status: ImportBatchStatus = Field(
        default=ImportBatchStatus.CREATED, description="Derived from the batch's results."
    )
    failure_details: str | None = Field(
        default=None, description="Why the whole batch failed (its source unreadable)."
    )
    source_fingerprint: SourceFingerprint | None = Field(
        default=None,
        exclude=True,  # internal: not part of the JSON surfaces (`model_dump` leaves it out)
        description="What identified the source's content when the batch was planned (a "
        "local file) or first fetched (HTTP); None until then, and for batches planned "
        "before fingerprints existed.",
    )
    source_lines: int | None = Field(
        default=None,
        ge=0,
        exclude=True,  # internal, as the fingerprint: the JSON surfaces leave it out
        description="Non-blank lines in the batch's range, counted when the batch settled "
        "after its range was read through; None before, when its source failed, and for "
        "batches settled before the count was kept.",
    )
    source_offset: int | None = Field(
        default=None,
        ge=0,
        exclude=True,  # internal, as the fingerprint
        description="Where the batch's first line starts in its local source's "
        "decompressed bytes, found when the batch was planned, so that reading starts "
        "there; None for a whole source, an http(s) one, and batches planned before "
        "offsets were kept.",
    )
    created_at: datetime.datetime = Field(default_factory=utc_now, description="Registered at.")
    updated_at: datetime.datetime = Field(default_factory=utc_now, description="Last change at.")

    @property
    def range_lines(self) -> int | None:
        """Lines in the batch's range, blank ones included; None for a whole source."""
        if self.line_start is None or self.line_end is None:
            return None
        return self.line_end - self.line_start + 1

    @property
    def label(self) -> str:
        """The batch for people: its source's file name and line range, e.g. `a.jsonl 1-500`."""
        name = source_file_name(self.storage_url)
        if self.line_start is None and self.line_end is None:
            return f"{name} (whole source)"
        return f"{name} {self.line_start or 1}-{self.line_end if self.line_end else 'end'}"

    def moved_to(
        self, status: ImportBatchStatus, failure_details: str | None = None
    ) -> "ImportBatch":
        """A copy in `status`; raises `IllegalTransitionError` for a backward move."""
        if status != self.status:
            check_batch_transition(self.status, status)
        return self.model_copy(
            update={"status": status, "failure_details": failure_details, "updated_at": utc_now()}
        )


class ImportResult(BaseModel):
    """The outcome of one non-blank source line."""

    id: uuid.UUID = Field(default_factory=new_id, description="The result's id.")
    import_batch_id: uuid.UUID = Field(description="The batch the line belongs to.")
    line_number: int = Field(ge=1, description="The line's 1-based number in the source file.")
    status: ImportResultStatus = Field(description="The line's outcome.")
    reference_id: uuid.UUID | None = Field(
        default=None, description="The reference created or matched for the line."
    )
    reference_created: bool | None = Field(
        default=None, description="True: a new reference; False: merged into an existing one."
    )
    failure_details: str | None = Field(
        default=None, description="What failed or was dropped, starting 'Entry <line>:'."
    )
    created_at: datetime.datetime = Field(default_factory=utc_now, description="Written at.")
    updated_at: datetime.datetime = Field(default_factory=utc_now, description="Last change at.")
    duplicate_of: uuid.UUID | None = Field(
        default=None,
        description="The canonical reference when the line's reference was decided a "
        "probable duplicate of it; not stored with the result, filled in when it is read.",
    )
