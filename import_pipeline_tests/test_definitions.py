"""The code location loads without I/O, and every name the docs mention resolves."""

from dagster import AssetKey, DynamicPartitionsDefinition

from import_pipeline.definitions import defs
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION


def test_definitions_load_and_names_resolve():
    job = defs.resolve_job_def("import_references")
    assert isinstance(job.partitions_def, DynamicPartitionsDefinition)
    assert job.partitions_def.name == IMPORT_RECORDS_PARTITION == "import_records"
    assert {"database", "step_settings"} <= set(defs.resources or {})
    # The job materializes the partitioned asset `imported_references`, whose graph is
    # the import: plan -> batches (mapped) -> deduplicate -> finalise.
    assert job.asset_layer.executable_asset_keys == {AssetKey("imported_references")}
    graph = job.graph.node_named("imported_references").definition
    assert {node.name for node in graph.nodes} == {
        "plan_import_batches",
        "process_import_batch",
        "deduplicate_record",
        "finalise_import_record",
    }
    asset = defs.resolve_assets_def("imported_references")
    assert asset.partitions_def == job.partitions_def
    batch_node = graph.node_named("process_import_batch")
    # Retries are requested by the op itself (RetryRequested), within a budget that the
    # deployment sets (settings) or a run overrides (the step_settings resource): no
    # static RetryPolicy. Op config keeps only what is per run.
    assert batch_node.definition.retry_policy is None
    assert set(batch_node.definition.config_schema.config_type.fields) == {
        "chunk_size",
        "progress_log_seconds",
    }
    assert {"step_settings"} <= batch_node.definition.required_resource_keys
    step_settings = defs.resources["step_settings"]
    assert {"writers", "batch_workers", "retries", "retry_delay_seconds"} <= set(
        type(step_settings).model_fields
    )
    assert batch_node.definition.pool == "reference_writers"
    assert defs.resolve_job_def("register_import_source").name == "register_import_source"
    assert defs.resolve_sensor_def("new_source_sensor").job_name == "import_references"
    assert defs.resolve_sensor_def("registered_batches_sensor").job_name == "import_references"
    assert defs.resolve_schedule_def("scheduled_import").job_name == "import_references"


def test_partition_runs_get_the_record_tag_and_the_deployments_executor():
    job = defs.resolve_job_def("import_references")
    key = "0192f0e2-0000-7000-8000-000000000000"
    assert (
        job.partitioned_config.get_tags_for_partition_key(key)["import_pipeline/record_id"] == key
    )
    config = job.partitioned_config.get_run_config_for_partition_key(key)
    # No executor in the stored run config: the run takes the deployment's when it starts.
    assert "execution" not in config
    assert job.executor_def.name == "import_executor"
    assert set(job.executor_def.config_schema.config_type.fields) == {
        "in_process",
        "multiprocess",
        "celery",
        "k8s",
    }
