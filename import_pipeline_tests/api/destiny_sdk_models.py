"""The destiny-sdk 0.17 import models, as the v1 route tests validate bodies against them.

destiny-sdk itself cannot be a test dependency: every release from 0.17.2 requires
Python >= 3.12 (and there is no 0.17 below that), while the project supports 3.11 and
uv resolves the dev group for every Python the project allows; it would also bring in
msal, authlib and python-jose, which nothing here uses. So these are the SDK's import
models restated from `destiny_sdk/imports.py` (0.17, seed HEAD f874e534): the same
field names, types, defaults, required fields, enum values and UUID versions, no
more. They are deliberately independent of `api.schemas` (our response models), so
that a body our routes answer is checked against the SDK's rules, not against
itself: an id of another UUID version, a status outside the SDK's enum, a missing
required field or a `failure_details` that is not a list fails here as it would fail
in an importer's `ImportBatchSummary.model_validate(response.json())`. Unknown keys
are ignored, as by the SDK. Once the project requires Python 3.12, replace this module
by `from destiny_sdk import imports`.
"""

import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import UUID4, UUID7, BaseModel, Field, HttpUrl

SdkUuid = Annotated[UUID4 | UUID7, Field(description="A DESTINY id: UUID version 4 or 7.")]


class ImportRecordStatus(StrEnum):
    """The SDK's record statuses (no `failed`: ours adds it)."""

    CREATED = "created"
    STARTED = "started"
    COMPLETED = "completed"


class ImportBatchStatus(StrEnum):
    """The SDK's batch statuses."""

    CREATED = "created"
    STARTED = "started"
    FAILED = "failed"
    PARTIALLY_FAILED = "partially_failed"
    COMPLETED = "completed"


class ImportResultStatus(StrEnum):
    """The SDK's result statuses."""

    CREATED = "created"
    STARTED = "started"
    COMPLETED = "completed"
    PARTIALLY_FAILED = "partially_failed"
    FAILED = "failed"
    RETRYING = "retrying"


class ImportRecordIn(BaseModel):
    """The SDK's request body for a new record (what importers send)."""

    search_string: str | None = None
    searched_at: datetime.datetime = Field(
        default_factory=lambda: datetime.datetime.now(tz=datetime.UTC)
    )
    processor_name: str
    processor_version: str
    notes: str | None = None
    expected_reference_count: int = Field(ge=-1)
    source_name: str


class ImportRecordRead(ImportRecordIn):
    """The SDK's record as read back."""

    id: SdkUuid
    status: ImportRecordStatus = ImportRecordStatus.CREATED
    batches: "list[ImportBatchRead] | None" = None


class ImportBatchIn(BaseModel):
    """The SDK's request body for a new batch."""

    storage_url: HttpUrl


class ImportBatchRead(ImportBatchIn):
    """The SDK's batch as read back."""

    id: SdkUuid
    status: ImportBatchStatus = ImportBatchStatus.CREATED
    import_record_id: SdkUuid
    import_record: ImportRecordRead | None = None
    import_results: "list[ImportResultRead] | None" = None


class ImportBatchSummary(ImportBatchIn):
    """The SDK's batch summary: `failure_details` is required (a list, or null)."""

    id: SdkUuid
    import_batch_id: SdkUuid
    import_batch_status: ImportBatchStatus
    results: dict[ImportResultStatus, int]
    failure_details: list[str] | None


class ImportResultRead(BaseModel):
    """The SDK's result of one line."""

    id: SdkUuid
    reference_id: SdkUuid | None = None
    failure_details: str | None = None
    import_batch: ImportBatchRead | None = None


ImportRecordRead.model_rebuild()
ImportBatchRead.model_rebuild()
