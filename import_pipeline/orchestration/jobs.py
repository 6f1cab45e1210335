"""The partitioned `import_references` job: plan -> fan out batches -> finalise."""

from dagster import job

from import_pipeline.orchestration.ops import (
    finalise_import_record,
    plan_import_batches,
    process_import_batch,
)
from import_pipeline.orchestration.partitions import import_records_partitions
from import_pipeline.orchestration.run_config import import_job_config

IMPORT_JOB_NAME = "import_references"


@job(
    name=IMPORT_JOB_NAME,
    partitions_def=import_records_partitions,
    config=import_job_config,
    description="Import one ImportRecord (the partition) into the reference repository.",
)
def import_references() -> None:
    """Plan the record's batches, process each through the reference resource, finalise."""
    reports = plan_import_batches().map(process_import_batch)
    finalise_import_record(reports.collect())
