"""Registering an import: one ImportRecord and one ImportBatch per source.

A record is registered with all its sources at once (CLI, sensors, schedule), or built
up batch by batch (`add_batch`, the HTTP API).
"""

import uuid
from collections.abc import Sequence
from pathlib import Path

from import_pipeline.domain.errors import (
    NoSourcesError,
    RecordClosedError,
    SourceUnreadableError,
    UnknownRecordError,
)
from import_pipeline.domain.models import ImportBatch, ImportRecord, source_file_name
from import_pipeline.domain.statuses import FinalisedBy, ImportRecordStatus, RunBy
from import_pipeline.services.storage_policy import (
    USER_INFO_REFUSED,
    StoragePolicy,
    StorageUrlRefusedError,
    has_user_info,
)
from import_pipeline.services.unit_of_work import ImportStore, UnitOfWorkFactory
from import_pipeline.sources import local_path


def normalise_source(source: str) -> str:
    """A storage URL for `source`: http(s) URLs as given, local files as absolute paths.

    Raises `SourceUnreadableError` naming the source when a local file is missing, and
    `StorageUrlRefusedError` (without repeating it) for a URL with user information,
    whoever registers it: credentials are never stored.
    """
    path = local_path(source)
    if path is None:
        if has_user_info(source):
            raise StorageUrlRefusedError(f"a storage URL {USER_INFO_REFUSED}")
        return source
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "no such file"
        raise SourceUnreadableError(f"{source}: {reason}")
    return str(Path(path).resolve())


def register_import(
    units: UnitOfWorkFactory, record: ImportRecord, sources: Sequence[str], *, once: bool = False
) -> tuple[ImportRecord, list[ImportBatch]]:
    """Store `record` with one batch per source; batches are split into line ranges later.

    With `once`, a record that exists already (same id) is returned as it is: sensors and
    schedules derive the id from what they import, so a repeated tick registers nothing.
    """
    if not sources:
        raise NoSourcesError("an import needs at least one source")
    batches = [
        ImportBatch(import_record_id=record.id, storage_url=normalise_source(source))
        for source in sources
    ]
    with units() as uow:
        imports = uow.imports
        if once and (existing := imports.get_record(record.id)) is not None:
            return existing, imports.list_batches(record.id)
        imports.add_record(record)
        imports.add_batches(batches)
        uow.commit()
    return record, batches


def open_record(units: UnitOfWorkFactory, record: ImportRecord) -> ImportRecord:
    """Store a record with no batches yet; `add_batch` adds them one by one."""
    with units() as uow:
        imports = uow.imports
        imports.add_record(record)
        uow.commit()
    return record


def open_record_for_batches(imports: ImportStore, record_id: uuid.UUID) -> ImportRecord:
    """The record, if it may take more batches one by one.

    Raises `UnknownRecordError` for an unknown record and `RecordClosedError` for a
    completed or failed one, for one finalised while batches were unfinished (the v1
    route), or for one registered with all its sources (CLI, sensor, schedule), which
    the run that imports them completes (spec section 2).
    """
    record = imports.get_record(record_id, for_update=True)
    if record is None:
        raise UnknownRecordError(f"no import record with id {record_id}")
    if record.status in {ImportRecordStatus.COMPLETED, ImportRecordStatus.FAILED}:
        raise RecordClosedError(
            f"import record {record_id} is {record.status} and accepts no new batches"
        )
    if record.finalise_requested:
        raise RecordClosedError(
            f"import record {record_id} is finalised (it completes when its batches are "
            "done) and accepts no new batches"
        )
    if record.finalised_by != FinalisedBy.IMPORTER:
        raise RecordClosedError(
            f"import record {record_id} was registered with all its sources and is "
            "finalised by its run; create a record with POST /imports to add batches"
        )
    return record


def check_open_for_batches(units: UnitOfWorkFactory, record_id: uuid.UUID) -> ImportRecord:
    """The record, if it may take more batches; raises as `open_record_for_batches` does.

    The API asks before it checks a storage URL, so that an unknown or closed record is
    answered without a DNS look-up; `add_batch` asks again under the record's lock.
    """
    with units() as uow:
        imports = uow.imports
        return open_record_for_batches(imports, record_id)


def add_batch(units: UnitOfWorkFactory, record_id: uuid.UUID, storage_url: str) -> ImportBatch:
    """Register one more batch (`created`) of an open record; a sensor will run it.

    Raises as `open_record_for_batches` does. The record's row is locked, so a batch
    cannot slip in while the record is being finalised.
    """
    with units() as uow:
        imports = uow.imports
        open_record_for_batches(imports, record_id)
        batch = ImportBatch(import_record_id=record_id, storage_url=normalise_source(storage_url))
        imports.add_batches([batch])
        uow.commit()
    return batch


def add_vetted_batch(
    units: UnitOfWorkFactory, record_id: uuid.UUID, storage_url: str, policy: StoragePolicy
) -> ImportBatch:
    """Register a batch an importer sent over HTTP, once `policy` accepts its storage URL.

    The record is checked first (`check_open_for_batches`: unknown or closed), so that
    it is answered without a DNS look-up; then the URL (`StorageUrlRefusedError`); then
    `add_batch` registers it under the record's lock.
    """
    check_open_for_batches(units, record_id)
    policy.check(storage_url)
    return add_batch(units, record_id, storage_url)


def register_partition_source(
    units: UnitOfWorkFactory, record_id: uuid.UUID, source: str, *, processor_name: str
) -> ImportRecord:
    """The record of a partition named by its source, registered under `record_id` if new.

    Its source name is the file's name (the last path segment of a URL); it is run by
    its partition (`RunBy.PARTITION`), never by a sensor under its id.
    """
    record = ImportRecord(
        id=record_id,
        source_name=source_file_name(source),
        processor_name=processor_name,
        processor_version="1",
        notes=f"imported as the partition {source}",
        run_by=RunBy.PARTITION,
    )
    registered, _batches = register_import(units, record, [source], once=True)
    return registered


def record_source_name(units: UnitOfWorkFactory, record_id: uuid.UUID) -> str | None:
    """The source name of the record, or None if there is no such record."""
    with units() as uow:
        imports = uow.imports
        record = imports.get_record(record_id)
    return record.source_name if record is not None else None
