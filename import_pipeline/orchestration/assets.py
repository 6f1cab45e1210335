"""`imported_references`: the reference repository's import of one record, as an asset.

A graph-backed asset partitioned by `import_records` (one partition per ImportRecord)
whose graph is the import: plan and start the record, fan its batches out to the
batch op (retried within its budget, in the `reference_writers` pool), decide the
record's new references against the repository (probable duplicates), finalise. Its
materializations carry the record's numbers, which the UI plots across partitions,
and its partition health comes from them whatever launched the run.
"""

from dagster import AssetKey, graph_asset

from import_pipeline.orchestration.ops import (
    deduplicate_record,
    finalise_import_record,
    plan_import_batches,
    process_import_batch,
)
from import_pipeline.orchestration.partitions import import_records_partitions

IMPORTED_REFERENCES = "imported_references"
"""The asset's name, and its graph's node in the job (where the ops' run config sits)."""
IMPORTED_REFERENCES_KEY = AssetKey(IMPORTED_REFERENCES)


@graph_asset(
    name=IMPORTED_REFERENCES,
    partitions_def=import_records_partitions,
    group_name="reference_repository",
    kinds={"sql"},
    description="The references of one ImportRecord (the partition), created or merged "
    "in the reference repository, with one result per source line.",
)
def imported_references() -> object:
    """Plan the record's batches, process each, deduplicate the new references, finalise."""
    reports = plan_import_batches().map(process_import_batch)
    return finalise_import_record(deduplicate_record(reports.collect()))
