"""The partitioned `import_references` job: the asset job materializing `imported_references`.

Its partitions are the asset's (`import_records`) and its ops the asset's graph (plan ->
fan out batches -> finalise); running it for a partition imports that record and runs
the asset's checks after it. Its executor (`executor.py`) is the deployment's choice:
in-process, step processes or celery workers.
"""

from dagster import AssetSelection, define_asset_job

from import_pipeline.orchestration.assets import IMPORTED_REFERENCES_KEY
from import_pipeline.orchestration.executor import import_executor
from import_pipeline.orchestration.run_config import import_job_config

IMPORT_JOB_NAME = "import_references"

import_references = define_asset_job(
    name=IMPORT_JOB_NAME,
    selection=AssetSelection.assets(IMPORTED_REFERENCES_KEY),
    config=import_job_config,
    executor_def=import_executor,
    description="Import one ImportRecord (the partition) into the reference repository.",
)
