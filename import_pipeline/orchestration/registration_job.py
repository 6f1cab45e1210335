"""`register_import_source`: start an import from the UI's launchpad.

A small job whose config names the sources and the record's fields. Its one op registers
the ImportRecord and adds its partition; `registered_batches_sensor` then launches the
partitioned `import_references` run for it, so the import follows without anyone
choosing a partition by hand.
"""

from dagster import Config, Failure, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from import_pipeline.domain.errors import DomainError
from import_pipeline.domain.models import ImportRecord
from import_pipeline.orchestration.partitions import add_partition
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.services.registration import register_import

REGISTRATION_JOB_NAME = "register_import_source"


class RegistrationConfig(Config):
    """What to import: the launchpad's form."""

    sources: list[str] = Field(description="Local paths, file:// or http(s):// URLs.")
    source_name: str = Field(description="Where the references come from.")
    processor_name: str = Field(default="dagster-launchpad", description="Producing program.")
    processor_version: str = Field(default="1", description="Its version.")
    search_string: str | None = Field(default=None, description="The search that found them.")
    notes: str | None = Field(default=None, description="Free-text notes.")
    expected_reference_count: int = Field(default=-1, ge=-1, description="-1: unknown.")


@op
def register_source(
    context: OpExecutionContext, config: RegistrationConfig, database: DatabaseResource
) -> Output[str]:
    """Register the record with one batch per source and add its partition."""
    record = ImportRecord(**config.model_dump(exclude={"sources"}))
    try:
        register_import(database.units, record, config.sources)
    except DomainError as error:
        raise Failure(description=str(error), allow_retries=False) from None
    key = add_partition(record.id, context.instance)
    context.log.info(f"registered import record {key}; registered_batches_sensor will run it")
    return Output(
        key,
        metadata={"record_id": key, "sources": MetadataValue.json(config.sources)},
    )


@job(name=REGISTRATION_JOB_NAME, description="Register a source for import (from the UI).")
def register_import_source() -> None:
    """Register one ImportRecord; the import run follows through the sensor."""
    register_source()
