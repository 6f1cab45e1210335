"""The code location loads without I/O, and every name the docs mention resolves."""

from dagster import DynamicPartitionsDefinition

from import_pipeline.definitions import defs
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION


def test_definitions_load_and_names_resolve():
    job = defs.resolve_job_def("import_references")
    assert isinstance(job.partitions_def, DynamicPartitionsDefinition)
    assert job.partitions_def.name == IMPORT_RECORDS_PARTITION == "import_records"
    resources = defs.resources or {}
    assert {"database", "references"} <= set(resources)
    batch_node = job.graph.node_named("process_import_batch")
    assert batch_node.definition.retry_policy.max_retries == 3
