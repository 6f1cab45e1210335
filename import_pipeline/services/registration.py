"""Registering an import: one ImportRecord and one ImportBatch per source."""

from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa

from import_pipeline.domain.errors import DomainError, SourceUnreadableError
from import_pipeline.domain.models import ImportBatch, ImportRecord
from import_pipeline.sources import local_path
from import_pipeline.store.imports import unit_of_work


def normalise_source(source: str) -> str:
    """A storage URL for `source`: http(s) URLs as given, local files as absolute paths.

    Raises `SourceUnreadableError` naming the source when a local file is missing.
    """
    path = local_path(source)
    if path is None:
        return source
    if not path.is_file():
        reason = "is a directory, not a file" if path.is_dir() else "no such file"
        raise SourceUnreadableError(f"{source}: {reason}")
    return str(Path(path).resolve())


def register_import(
    engine: sa.Engine, record: ImportRecord, sources: Sequence[str], *, once: bool = False
) -> tuple[ImportRecord, list[ImportBatch]]:
    """Store `record` with one batch per source; batches are split into line ranges later.

    With `once`, a record that exists already (same id) is returned as it is: sensors and
    schedules derive the id from what they import, so a repeated tick registers nothing.
    """
    if not sources:
        raise DomainError("an import needs at least one source")
    batches = [
        ImportBatch(import_record_id=record.id, storage_url=normalise_source(source))
        for source in sources
    ]
    with unit_of_work(engine) as imports:
        if once and (existing := imports.get_record(record.id)) is not None:
            return existing, imports.list_batches(record.id)
        imports.add_record(record)
        imports.add_batches(batches)
    return record, batches
