"""What the Dagster UI shows, read over a real `dagster-webserver`'s GraphQL API.

Two imports by `import-pipeline import` (one clean, one whose source is a corrupt gzip),
then the queries the UI itself sends: the job's Runs tab, the asset's partition health,
its latest materialization's metadata, and its asset checks per partition.
"""

import gzip
import json
import subprocess
import time

import httpx
import pytest

from import_pipeline.orchestration.launch import CODE_LOCATION_NAME, REPOSITORY_NAME
from import_pipeline_tests.data_files import non_blank_lines, sdk_sample
from import_pipeline_tests.processes import BIN, free_port, isolated_env, log_tail, started

pytestmark = pytest.mark.slow

ASSET = {"path": ["imported_references"]}

# The UI's job Runs tab (PipelineRunsFeedRoot): runs of this job in this code location.
JOB_RUNS = """
query ($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    ... on Runs { results { runId status tags { key value } } }
  }
}
"""
# The asset's partition health bar (PartitionHealthQuery) and its partitions' count.
PARTITION_HEALTH = """
query ($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      partitionKeysByDimension { partitionKeys }
      assetPartitionStatuses {
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
      }
    }
  }
}
"""
LATEST_MATERIALIZATION = """
query ($assetKey: AssetKeyInput!, $partition: String!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      assetMaterializations(partitions: [$partition], limit: 1) {
        partition
        metadataEntries {
          label
          __typename
          ... on IntMetadataEntry { intValue }
          ... on FloatMetadataEntry { floatValue }
          ... on TextMetadataEntry { text }
        }
      }
    }
  }
}
"""
# What the launchpad fills in for a partition's run (LaunchpadSessionPartitionSetsQuery).
PARTITION_TAGS = """
query ($repositorySelector: RepositorySelector!, $partitionSetName: String!, $key: String!) {
  partitionSetOrError(repositorySelector: $repositorySelector,
                      partitionSetName: $partitionSetName) {
    ... on PartitionSet {
      partition(partitionName: $key) {
        tagsOrError { ... on PartitionTags { results { key value } } }
      }
    }
  }
}
"""
CHECKS = """
query ($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      assetChecksOrError { ... on AssetChecks { checks { name } } }
    }
  }
}
"""
CHECK_EXECUTIONS = """
query ($assetKey: AssetKeyInput!, $checkName: String!, $partition: String) {
  assetCheckExecutions(assetKey: $assetKey, checkName: $checkName, partition: $partition,
                       limit: 10) {
    status
    evaluation { success partition severity }
  }
}
"""


def import_source(env, source, name):
    completed = subprocess.run(
        [str(BIN / "import-pipeline"), "import", str(source), "--source-name", name, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return completed, json.loads(completed.stdout) if completed.stdout.strip() else None


class GraphQL:
    """The webserver's GraphQL endpoint."""

    def __init__(self, port: int) -> None:
        self.client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)

    def ready(self) -> bool:
        try:
            return self.client.get("/server_info").status_code == 200
        except httpx.TransportError:
            return False

    def __call__(self, query: str, **variables: object) -> dict:
        response = self.client.post("/graphql", json={"query": query, "variables": variables})
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]


def test_the_ui_shows_cli_imports_as_they_ended(tmp_path):
    env = isolated_env(tmp_path, IMPORT_PIPELINE_DATA_DIR=str(tmp_path / "data"))
    clean_source = sdk_sample("eppi_import.jsonl")
    corrupt = tmp_path / "corrupt.jsonl.gz"
    whole = gzip.compress(clean_source.read_bytes())
    corrupt.write_bytes(whole[: len(whole) // 2])
    completed, clean = import_source(env, clean_source, "clean-source")
    assert completed.returncode == 0, completed.stderr
    completed, failed = import_source(env, corrupt, "corrupt-source")
    assert completed.returncode == 1, completed.stderr
    clean_key, failed_key = clean["id"], failed["id"]

    port, log = free_port(), tmp_path / "webserver.log"
    argv = ["dagster-webserver", "-m", CODE_LOCATION_NAME, "-h", "127.0.0.1", "-p", str(port)]
    with started(argv, env, log):
        graphql = GraphQL(port)
        deadline = time.monotonic() + 120
        while not graphql.ready():
            assert time.monotonic() < deadline, log_tail(log)
            time.sleep(0.5)

        # The job's Runs tab lists both CLI runs (they carry the code location's origin).
        runs = graphql(
            JOB_RUNS,
            filter={
                "pipelineName": "import_references",
                "tags": [
                    {
                        "key": ".dagster/repository",
                        "value": f"{REPOSITORY_NAME}@{CODE_LOCATION_NAME}",
                    }
                ],
            },
        )["runsOrError"]["results"]
        by_partition = {
            tags["dagster/partition"]: run
            for run in runs
            for tags in [{tag["key"]: tag["value"] for tag in run["tags"]}]
        }
        assert set(by_partition) == {clean_key, failed_key}
        assert by_partition[clean_key]["status"] == "SUCCESS"
        assert by_partition[failed_key]["status"] == "FAILURE"  # failed means red

        # Partition health: the clean record materialized, the failed one failed.
        node = graphql(PARTITION_HEALTH, assetKey=ASSET)["assetNodeOrError"]
        statuses = node["assetPartitionStatuses"]
        assert statuses["materializedPartitions"] == [clean_key]
        assert statuses["failedPartitions"] == [failed_key]

        # The latest materialization of the clean record carries numbers to plot.
        [materialization] = graphql(LATEST_MATERIALIZATION, assetKey=ASSET, partition=clean_key)[
            "assetNodeOrError"
        ]["assetMaterializations"]
        entries = {entry["label"]: entry for entry in materialization["metadataEntries"]}
        lines = non_blank_lines(clean_source)
        assert entries["lines"]["intValue"] == lines
        assert entries["lines_completed"]["intValue"] == lines
        assert entries["lines_failed"]["intValue"] == 0
        assert entries["references_created"]["__typename"] == "IntMetadataEntry"
        assert entries["references_matched"]["__typename"] == "IntMetadataEntry"
        for label in ("failed_share", "lines_per_second", "batch_lines_per_second", "seconds"):
            assert entries[label]["__typename"] == "FloatMetadataEntry", label
        assert entries["source_name"]["text"] == "clean-source"
        assert entries["record_id"]["text"] == clean_key

        # A launchpad run for the partition gets its record id and source name as tags.
        partition = graphql(
            PARTITION_TAGS,
            repositorySelector={
                "repositoryName": REPOSITORY_NAME,
                "repositoryLocationName": CODE_LOCATION_NAME,
            },
            partitionSetName="import_references_partition_set",
            key=failed_key,
        )["partitionSetOrError"]["partition"]
        tags = {tag["key"]: tag["value"] for tag in partition["tagsOrError"]["results"]}
        assert tags["import_pipeline/record_id"] == failed_key
        assert tags["import_pipeline/source"] == "corrupt-source"

        # Its asset checks are listed, and each passed for the clean record's partition.
        checks = graphql(CHECKS, assetKey=ASSET)["assetNodeOrError"]["assetChecksOrError"]
        names = {check["name"] for check in checks["checks"]}
        assert {
            "results_complete",
            "results_settled",
            "identifiers_unique",
            "failed_share_below_threshold",
        } <= names
        for name in names:
            executions = graphql(
                CHECK_EXECUTIONS, assetKey=ASSET, checkName=name, partition=clean_key
            )["assetCheckExecutions"]
            assert [e["status"] for e in executions] == ["SUCCEEDED"], (name, executions)
            assert executions[0]["evaluation"]["partition"] == clean_key
