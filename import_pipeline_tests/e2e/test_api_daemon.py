"""End to end over HTTP: a real uvicorn API, a real `dagster-daemon`, a real file server.

An importer's session: create a record, add a batch whose storage URL is a real file
served on 127.0.0.1 (allow-listed), poll until the daemon's sensor has run the import
job for it, read one result per line, finalise. Every process started is stopped.
"""

import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from import_pipeline_tests.data_files import non_blank_lines, plain_copy, real_file
from import_pipeline_tests.processes import BIN, free_port, isolated_env, log_tail, started
from import_pipeline_tests.static_server import serve_directory

pytestmark = pytest.mark.slow

SOURCE = "synergy_Sep_2021.jsonl.gz"  # served decompressed, as refs.jsonl


def wait_for(predicate, seconds, what, logs):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"{what} within {seconds} s\n" + "\n".join(map(log_tail, logs)))


@dataclass(frozen=True)
class ApiSession:
    """A running API and daemon: a client of the API and what the test needs beside it."""

    client: httpx.Client
    storage_url: str
    env: dict[str, str]
    server_log: Path
    daemon_log: Path


@contextmanager
def api_and_daemon(tmp_path: Path, storage: Path, base_path: str = "") -> Iterator[ApiSession]:
    """`import-pipeline serve` and `dagster-daemon` on a fresh data directory, `storage`
    served on 127.0.0.1 and allow-listed; the client (bearer token set, base URL the API's
    plus `base_path`) is handed out once the API answers. Every process is stopped after."""
    data = tmp_path / "data"
    data.mkdir()
    token, port = secrets.token_urlsafe(24), free_port()
    server_log, daemon_log = tmp_path / "api.log", tmp_path / "daemon.log"
    with serve_directory(storage) as storage_url:
        env = isolated_env(
            tmp_path,
            IMPORT_PIPELINE_DATA_DIR=str(data),
            IMPORT_PIPELINE_API_TOKENS=token,
            IMPORT_PIPELINE_STORAGE_ALLOWLIST=storage_url.removeprefix("http://"),
        )
        subprocess.run([str(BIN / "import-pipeline"), "db", "upgrade"], env=env, check=True)
        with (
            started(["import-pipeline", "serve", "--port", str(port)], env, server_log),
            started(
                ["dagster-daemon", "run", "-m", "import_pipeline.definitions"], env, daemon_log
            ),
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}{base_path}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            ) as client,
        ):

            def healthy():
                try:
                    return client.get(f"http://127.0.0.1:{port}/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(healthy, 60, "the API did not answer", [server_log])
            yield ApiSession(client, storage_url, env, server_log, daemon_log)


def test_an_importer_session_over_http(tmp_path):
    source = plain_copy(real_file(SOURCE))
    storage = tmp_path / "storage"
    storage.mkdir()
    shutil.copyfile(source, storage / "refs.jsonl")
    with api_and_daemon(tmp_path, storage) as session:
        api, storage_url, env = session.client, session.storage_url, session.env
        server_log, daemon_log = session.server_log, session.daemon_log
        assert api.get("/imports", headers={"Authorization": "Bearer nope"}).status_code == 401

        created = api.post(
            "/imports",
            json={
                "processor_name": "e2e",
                "processor_version": "1",
                "source_name": "synergy",
                "expected_reference_count": non_blank_lines(source),
            },
        )
        assert created.status_code == 201, created.text
        record_id = created.json()["id"]
        added = api.post(
            f"/imports/{record_id}/batches",
            json={"storage_url": f"{storage_url}/refs.jsonl"},
        )
        assert added.status_code == 202, added.text
        batch_id = added.json()["id"]
        assert api.post(f"/imports/{record_id}/finalise").status_code == 409

        def batch_done():
            body = api.get(f"/imports/{record_id}/batches/{batch_id}/summary").json()
            return body if body["import_batch_status"] not in {"created", "started"} else None

        summary = wait_for(batch_done, 240, "the batch was not processed", [daemon_log, server_log])
        assert summary["import_batch_status"] == "completed"
        assert summary["results"]["completed"] == non_blank_lines(source) == 271
        assert summary["failure_details"] == []
        assert api.get(f"/imports/{record_id}").json()["status"] == "started"

        results = api.get(f"/imports/{record_id}/results", params={"limit": 1000}).json()
        assert sorted(result["line_number"] for result in results) == list(range(1, 272))
        assert all(result["reference_id"] for result in results)

        def finished_runs():
            with DagsterInstance.from_config(env["DAGSTER_HOME"]) as dg:
                runs = dg.get_runs(RunsFilter(tags={"dagster/partition": record_id}))
                return runs if runs and all(run.is_finished for run in runs) else None

        runs = wait_for(finished_runs, 120, "the run did not finish", [daemon_log])
        assert [run.status for run in runs] == [DagsterRunStatus.SUCCESS]
        assert runs[0].tags["dagster/sensor_name"] == "registered_batches_sensor"

        assert api.post(f"/imports/{record_id}/finalise").status_code == 204
        record = api.get(f"/imports/{record_id}").json()
        assert record["status"] == "completed"
        assert [batch["status"] for batch in record["batches"]] == ["completed"]
