"""Request and response bodies of the HTTP API, in the DESTINY SDK's field names.

Requests are the SDK's `ImportRecordIn` and `ImportBatchIn`; unknown fields are refused
(422) so that a misspelt field is not silently dropped. Responses are the SDK's
`ImportRecordRead`, `ImportBatchRead`, `ImportBatchSummary` and `ImportResultRead`, plus
our extra fields (the SDK's models ignore keys they do not know). Text is refused when
it holds a NUL character, which no database text column stores, and a count beyond the
database's integer column (`services.input_rules`); a storage URL with user information
(`user:password@`) is refused without being repeated.

These are the only response shapes: `api.translate` builds them from domain objects,
for the routes and for the CLI's `--json`. They stay in the API package, which owns
the SDK's shapes, rather than in a package-level module beside the CLI: this module
imports pydantic but no FastAPI (nor does `api/__init__.py`), so the CLI imports it
without loading the web framework, and a test keeps it that way.
"""

import datetime
import uuid
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from import_pipeline.domain.models import utc_now
from import_pipeline.domain.statuses import (
    FinalisedBy,
    ImportBatchStatus,
    ImportRecordStatus,
    ImportResultStatus,
)
from import_pipeline.services.input_rules import Name, ReferenceCount, Text, no_nul
from import_pipeline.services.storage_policy import USER_INFO_REFUSED, has_user_info


class ImportRecordIn(BaseModel):
    """A new import record (the SDK's `ImportRecordIn`)."""

    model_config = ConfigDict(extra="forbid")

    search_string: Text | None = Field(default=None, description="The search that was run.")
    searched_at: datetime.datetime = Field(
        default_factory=utc_now, description="When it was run (naive times are taken as UTC)."
    )
    processor_name: Name = Field(description="The program that produced the source files.")
    processor_version: Name = Field(description="That program's version.")
    notes: Text | None = Field(default=None, description="Free-text notes.")
    expected_reference_count: ReferenceCount = Field(
        description="References the importer expects; -1 when unknown."
    )
    source_name: Name = Field(description="Where the references come from.")

    @field_validator("searched_at")
    @classmethod
    def _in_utc(cls, value: datetime.datetime) -> datetime.datetime:
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        try:
            return value.astimezone(datetime.UTC)
        except OverflowError:
            raise ValueError("is out of range once converted to UTC") from None


class ImportBatchIn(BaseModel):
    """A new batch of a record (the SDK's `ImportBatchIn`)."""

    model_config = ConfigDict(extra="forbid")

    storage_url: Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(no_nul)] = (
        Field(
            description="https:// URL of a .jsonl or .jsonl.gz file (http: allow-listed only), "
            "without user information (user:password@)."
        )
    )

    @field_validator("storage_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if any(character.isspace() or ord(character) < 32 for character in value):
            raise ValueError("must not contain whitespace or control characters")
        if has_user_info(value):
            raise ValueError(USER_INFO_REFUSED)
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises ValueError for a bad port)
        except ValueError as error:
            raise ValueError(f"is not a valid URL ({error})") from None
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host")
        return value


class ImportBatchRead(BaseModel):
    """A batch (the SDK's `ImportBatchRead`) with its line range and result counts."""

    id: uuid.UUID
    import_record_id: uuid.UUID
    storage_url: str
    status: ImportBatchStatus
    line_start: int | None = Field(description="First source line of a split batch.")
    line_end: int | None = Field(description="Last source line of a split batch.")
    failure_details: str | None = Field(description="Why the whole batch failed, if it did.")
    created_at: datetime.datetime
    updated_at: datetime.datetime
    import_record: None = None
    import_results: None = None
    results: dict[str, int] | None = Field(
        default=None, description="Results counted by status (in a record's batches)."
    )


class ImportRecordRead(BaseModel):
    """A record (the SDK's `ImportRecordRead`) with its batches and result counts."""

    id: uuid.UUID
    source_name: str
    processor_name: str
    processor_version: str
    search_string: str | None
    searched_at: datetime.datetime
    notes: str | None
    expected_reference_count: int
    status: ImportRecordStatus
    failure_details: str | None = Field(description="Why the record failed, if it did.")
    finalised_by: FinalisedBy = Field(description="Who completes the record: run or importer.")
    created_at: datetime.datetime
    updated_at: datetime.datetime
    batches: list[ImportBatchRead] | None = Field(
        default=None, description="The record's batches (not listed by GET /imports)."
    )
    results: dict[str, int] | None = Field(
        default=None,
        description="Results counted by status, plus references_created/references_matched.",
    )
    failure_samples: list[str] | None = Field(
        default=None, description="A few failure details of failed lines."
    )
    deduplication: dict[str, int] | None = Field(
        default=None,
        description="The record's new references by deduplication decision: canonical, "
        "duplicate, unresolved, and pending (not yet decided).",
    )


class ImportBatchSummary(BaseModel):
    """A batch's results counted by status, and its lines' failure details."""

    id: uuid.UUID
    import_batch_id: uuid.UUID
    storage_url: str
    import_batch_status: ImportBatchStatus
    results: dict[ImportResultStatus, int] = Field(description="All six statuses, zeros included.")
    failure_details: list[str] = Field(
        description="Details of failed and partially failed lines, each starting 'Entry <line>'."
    )
    batch_failure_details: str | None = Field(
        default=None, description="Why the whole batch failed (its source unreadable), if it did."
    )


class ImportResultRead(BaseModel):
    """One line's outcome (the SDK's `ImportResultRead`) with status and line number."""

    id: uuid.UUID
    import_batch_id: uuid.UUID
    line_number: int
    status: ImportResultStatus
    reference_id: uuid.UUID | None
    reference_created: bool | None = Field(description="True: created; False: matched.")
    failure_details: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    duplicate_of: uuid.UUID | None = Field(
        default=None,
        description="The canonical reference, when the line's reference is a probable "
        "duplicate of it; null otherwise.",
    )
    import_batch: None = None


class DeduplicationDecisionIn(BaseModel):
    """A person's deduplication decision on a reference: canonical, or a duplicate."""

    model_config = ConfigDict(extra="forbid")

    duplicate_of: uuid.UUID | None = Field(
        description="The reference it duplicates (its group's canonical one is stored); "
        "null: the reference is canonical."
    )


class DeduplicationDecisionRead(BaseModel):
    """A reference's deduplication decision, in the DESTINY SDK's vocabulary."""

    reference_id: uuid.UUID
    determination: str = Field(
        description="canonical, duplicate, unresolved, or pending (not decided yet)."
    )
    duplicate_of: uuid.UUID | None = Field(description="The canonical reference of a duplicate.")
    score: float = Field(description="Score of the decisive pair, 0 to 1.")
    evidence: dict[str, Any] = Field(description="Why: the rule, similarities, contradictions.")
    decided_by: str = Field(description="automatic or person.")
    record_id: uuid.UUID | None = Field(description="The import record that created it.")
    updated_at: datetime.datetime | None


class ErrorBody(BaseModel):
    """The body of every error response: one sentence saying what is wrong."""

    detail: str
