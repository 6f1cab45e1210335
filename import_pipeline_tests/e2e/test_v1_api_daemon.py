"""End to end over the DESTINY v1 routes: a real uvicorn, a real `dagster-daemon`, a file server.

The session the seed system's importers run, against us: an httpx client whose base
URL ends in `/v1` (as destiny-sdk's `OAuthClient` builds it) creates a record, registers
two batches whose storage URLs are real files served on 127.0.0.1 (allow-listed), polls
the v1 summary route until the daemon's sensor has imported both, reads a batch's
results, and finalises with PATCH. Every body is read with the SDK's models
(`destiny_sdk_models`). Every process started is stopped.
"""

import shutil
from importlib import resources

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from import_pipeline_tests.api import destiny_sdk_models as sdk
from import_pipeline_tests.data_files import non_blank_lines, plain_copy, real_file
from import_pipeline_tests.e2e.test_api_daemon import SOURCE, api_and_daemon, wait_for

pytestmark = pytest.mark.slow

DEMO_FAILED_LINES = [47, 48, 50]  # demo.jsonl: see import_pipeline/samples/README.md


def test_a_destiny_importer_session_over_the_v1_routes(tmp_path):
    source = plain_copy(real_file(SOURCE))
    storage = tmp_path / "storage"
    storage.mkdir()
    shutil.copyfile(source, storage / "refs.jsonl")
    with resources.as_file(resources.files("import_pipeline.samples") / "demo.jsonl") as demo:
        shutil.copyfile(demo, storage / "demo.jsonl")
    with api_and_daemon(tmp_path, storage, "/v1") as session:
        destiny, storage_url, env = session.client, session.storage_url, session.env
        server_log, daemon_log = session.server_log, session.daemon_log
        refused = destiny.get("/imports/records/", headers={"Authorization": "Bearer no"})
        assert refused.status_code == 401

        created = destiny.post(
            "/imports/records/",
            json=sdk.ImportRecordIn(
                processor_name="eppi-importer",
                processor_version="e2e",
                source_name="synergy",
                expected_reference_count=non_blank_lines(source) + 49,
            ).model_dump(mode="json"),
        )
        assert created.status_code == 201, created.text
        record = sdk.ImportRecordRead.model_validate(created.json())
        batches = []
        for name in ("refs.jsonl", "demo.jsonl"):
            added = destiny.post(
                f"/imports/records/{record.id}/batches/",
                json=sdk.ImportBatchIn(storage_url=f"{storage_url}/{name}").model_dump(mode="json"),
            )
            assert added.status_code == 202, added.text
            batch = sdk.ImportBatchRead.model_validate(added.json())
            assert batch.status == sdk.ImportBatchStatus.CREATED
            batches.append(batch)
        refs, demo = batches
        # As the seed's importers do: finalise at once; the runs complete the record.
        early = destiny.patch(f"/imports/records/{record.id}/finalise/")
        assert early.status_code == 204, early.text

        def summaries():
            read = [
                sdk.ImportBatchSummary.model_validate(
                    destiny.get(f"/imports/records/{record.id}/batches/{batch.id}/summary/").json()
                )
                for batch in batches
            ]
            unfinished = {sdk.ImportBatchStatus.CREATED, sdk.ImportBatchStatus.STARTED}
            return read if all(s.import_batch_status not in unfinished for s in read) else None

        refs_summary, demo_summary = wait_for(
            summaries, 240, "the batches were not processed", [daemon_log, server_log]
        )
        assert refs_summary.import_batch_status == sdk.ImportBatchStatus.COMPLETED
        assert refs_summary.results[sdk.ImportResultStatus.COMPLETED] == 271
        assert refs_summary.failure_details == []
        assert demo_summary.import_batch_status == sdk.ImportBatchStatus.PARTIALLY_FAILED
        assert demo_summary.results[sdk.ImportResultStatus.FAILED] == len(DEMO_FAILED_LINES)

        results = destiny.get(f"/imports/records/{record.id}/batches/{refs.id}/results/")
        assert results.status_code == 200
        read = [sdk.ImportResultRead.model_validate(body) for body in results.json()]
        assert len(read) == 271
        assert all(result.reference_id for result in read)
        failed = destiny.get(
            f"/imports/records/{record.id}/batches/{demo.id}/results/",
            params={"result_status": "failed"},
        ).json()
        assert [body["line_number"] for body in failed] == DEMO_FAILED_LINES

        def finished_runs():
            with DagsterInstance.from_config(env["DAGSTER_HOME"]) as dg:
                runs = dg.get_runs(RunsFilter(tags={"dagster/partition": str(record.id)}))
                return runs if runs and all(run.is_finished for run in runs) else None

        runs = wait_for(finished_runs, 120, "the runs did not finish", [daemon_log])
        assert {run.status for run in runs} == {DagsterRunStatus.SUCCESS}

        finalised = destiny.patch(f"/imports/records/{record.id}/finalise/")
        assert finalised.status_code == 204, finalised.text
        final = sdk.ImportRecordRead.model_validate(
            destiny.get(f"/imports/records/{record.id}/").json()
        )
        assert final.status == sdk.ImportRecordStatus.COMPLETED
        assert [batch.status for batch in final.batches] == [
            sdk.ImportBatchStatus.COMPLETED,
            sdk.ImportBatchStatus.PARTIALLY_FAILED,
        ]
        listed = destiny.get("/imports/records/", params={"limit": 10}).json()
        assert [body["id"] for body in listed] == [str(record.id)]
