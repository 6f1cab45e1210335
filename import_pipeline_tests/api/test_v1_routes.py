"""Every DESTINY v1 route and its error codes, on SQLite and PostgreSQL, as an importer sees them.

An importer written for the DESTINY repository reads our answers with destiny-sdk's
models, so every successful body here is validated by those models' rules
(`destiny_sdk_models`, why not the package itself is said there) as well as by the
values the test expects. Batches are fetched from a real file server on 127.0.0.1 and
processed by the services the import job calls (the job runs in the end-to-end test).
"""

import uuid

import pytest

from import_pipeline.api import v1
from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.services.finalise import fail_record
from import_pipeline.services.results_pages import all_batch_results
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.api import destiny_sdk_models as sdk
from import_pipeline_tests.api.conftest import MAX_BODY_BYTES, RECORD_IN, run_waiting_batches
from import_pipeline_tests.api.test_routes import (
    DEMO_FAILED_LINES,
    DEMO_PARTIAL_LINES,
    DEMO_RESULTS,
)

RECORDS = "/v1/imports/records/"
# The SDK's ImportRecordIn as an importer serialises it (model_dump(mode="json")).
SDK_RECORD_IN = sdk.ImportRecordIn.model_validate(RECORD_IN).model_dump(mode="json")


def create_record(client, **changes):
    response = client.post(RECORDS, json=SDK_RECORD_IN | changes)
    assert response.status_code == 201, response.text
    return sdk.ImportRecordRead.model_validate(response.json())


def add_batch(client, record_id, url):
    response = client.post(f"{RECORDS}{record_id}/batches/", json={"storage_url": url})
    assert response.status_code == 202, response.text
    return sdk.ImportBatchRead.model_validate(response.json())


def imported_demo(client, engine, storage):
    record = create_record(client)
    batch = add_batch(client, record.id, f"{storage}/demo.jsonl")
    run_waiting_batches(engine, str(record.id))
    return record, batch


def batch_path(record_id, batch_id, tail=""):
    return f"{RECORDS}{record_id}/batches/{batch_id}/{tail}"


# POST /v1/imports/records/ ------------------------------------------------------------


def test_create_answers_201_with_an_sdk_import_record(client):
    record = create_record(client)
    assert record.status == sdk.ImportRecordStatus.CREATED
    assert record.batches == []
    sent = sdk.ImportRecordIn.model_validate(SDK_RECORD_IN)
    assert sdk.ImportRecordIn.model_validate(record.model_dump()) == sent
    assert client.get(f"/imports/{record.id}").json()["finalised_by"] == "importer"


def test_create_ignores_unknown_fields_as_the_sdk_does(client):
    record = create_record(client, field_of_a_later_sdk="ignored")
    assert record.source_name == RECORD_IN["source_name"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"processor_name": None}, "processor_name"),
        ({"expected_reference_count": -2}, "expected_reference_count"),
        ({"source_name": ""}, "source_name"),
        ({"searched_at": "yesterday"}, "searched_at"),
    ],
)
def test_create_refuses_an_invalid_field_with_422_naming_it(client, change, field):
    body = {key: value for key, value in (SDK_RECORD_IN | change).items() if value is not None}
    response = client.post(RECORDS, json=body)
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]


# GET /v1/imports/records/ -------------------------------------------------------------


def test_list_answers_sdk_records_newest_first_up_to_limit(client):
    ids = [create_record(client, source_name=f"source-{n}").id for n in range(3)]
    listed = client.get(RECORDS)
    assert listed.status_code == 200
    records = [sdk.ImportRecordRead.model_validate(body) for body in listed.json()]
    assert [record.id for record in records] == ids[::-1]
    assert "Link" not in listed.headers  # the seed does not page its list
    two = client.get(RECORDS, params={"limit": 2}).json()
    assert [uuid.UUID(body["id"]) for body in two] == ids[:0:-1]


@pytest.mark.parametrize(("limit", "code"), [(0, 422), (1, 200), (10_000, 200), (10_001, 422)])
def test_list_limit_is_one_to_ten_thousand(client, limit, code):
    response = client.get(RECORDS, params={"limit": limit})
    assert response.status_code == code
    if code == 422:
        assert response.json()["detail"][0]["loc"] == ["query", "limit"]


def test_list_limit_defaults_to_a_thousand(client, monkeypatch):
    asked = []
    monkeypatch.setattr(v1, "list_records", lambda units, *, limit: asked.append(limit) or [])
    assert client.get(RECORDS).json() == []
    assert asked == [1000]


# GET /v1/imports/records/{id}/ --------------------------------------------------------


def test_read_answers_the_record_with_its_batches(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    response = client.get(f"{RECORDS}{record.id}/")
    assert response.status_code == 200
    read = sdk.ImportRecordRead.model_validate(response.json())
    assert read.status == sdk.ImportRecordStatus.STARTED  # open until finalised
    assert [(b.id, b.status) for b in read.batches] == [
        (batch.id, sdk.ImportBatchStatus.PARTIALLY_FAILED)
    ]


def test_unknown_ids_are_404_naming_them(client):
    record, missing = create_record(client), uuid.uuid4()
    batch = add_batch(client, record.id, "https://storage.test/a.jsonl")
    for method, path, named in [
        ("GET", f"{RECORDS}{missing}/", f"no import record with id {missing}"),
        ("PATCH", f"{RECORDS}{missing}/finalise/", f"no import record with id {missing}"),
        ("GET", f"{RECORDS}{missing}/batches/", f"no import record with id {missing}"),
        ("GET", batch_path(missing, batch.id), f"no import record with id {missing}"),
        ("GET", batch_path(missing, batch.id, "summary/"), f"no import record with id {missing}"),
        ("GET", batch_path(missing, batch.id, "results/"), f"no import record with id {missing}"),
        ("GET", batch_path(record.id, missing), f"has no batch with id {missing}"),
        ("GET", batch_path(record.id, missing, "summary/"), f"has no batch with id {missing}"),
        ("GET", batch_path(record.id, missing, "results/"), f"has no batch with id {missing}"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert named in response.json()["detail"], (method, path)
    response = client.post(
        f"{RECORDS}{missing}/batches/", json={"storage_url": "https://storage.test/a.jsonl"}
    )
    assert response.status_code == 404


def test_a_batch_read_through_another_record_is_404(client):
    mine, other = create_record(client), create_record(client)
    batch = add_batch(client, other.id, "https://storage.test/a.jsonl")
    for tail in ("", "summary/", "results/"):
        response = client.get(batch_path(mine.id, batch.id, tail))
        assert response.status_code == 404
        assert response.json() == {
            "detail": f"import record {mine.id} has no batch with id {batch.id}"
        }


def test_a_malformed_id_is_422_naming_the_path_parameter(client):
    record = create_record(client)
    response = client.get(f"{RECORDS}not-a-uuid/")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "import_record_id"]
    response = client.get(batch_path(record.id, "not-a-uuid", "summary/"))
    assert response.json()["detail"][0]["loc"] == ["path", "import_batch_id"]


# POST /v1/imports/records/{id}/batches/ -----------------------------------------------


def test_add_batch_answers_202_with_an_sdk_batch_in_created(client):
    record = create_record(client)
    batch = add_batch(client, record.id, "https://storage.test/refs.jsonl.gz")
    assert batch.status == sdk.ImportBatchStatus.CREATED
    assert batch.import_record_id == record.id
    assert str(batch.storage_url) == "https://storage.test/refs.jsonl.gz"


def test_add_batch_with_a_url_the_policy_refuses_is_403(client):
    record = create_record(client)
    response = client.post(
        f"{RECORDS}{record.id}/batches/", json={"storage_url": "https://8.8.8.8/refs.jsonl"}
    )
    assert response.status_code == 403
    assert set(response.json()) == {"detail"}
    assert client.get(f"{RECORDS}{record.id}/batches/").json() == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://storage.test/a.jsonl", ""])
def test_add_batch_with_a_url_that_is_not_http_is_422(client, url):
    record = create_record(client)
    response = client.post(f"{RECORDS}{record.id}/batches/", json={"storage_url": url})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "storage_url"]


@pytest.mark.parametrize("status", [ImportRecordStatus.COMPLETED, ImportRecordStatus.FAILED])
def test_add_batch_to_a_closed_record_is_409(client, engine, status):
    record = create_record(client)
    if status == ImportRecordStatus.COMPLETED:
        assert client.patch(f"{RECORDS}{record.id}/finalise/").status_code == 204
    else:
        fail_record(sql_units(engine), record.id, "given up")
    response = client.post(
        f"{RECORDS}{record.id}/batches/", json={"storage_url": "https://8.8.8.8/a.jsonl"}
    )
    assert response.status_code == 409  # before the storage URL's 403
    assert response.json() == {
        "detail": f"import record {record.id} is {status} and accepts no new batches"
    }


# GET /v1/imports/records/{id}/batches/ and .../batches/{batch_id}/ ---------------------


def test_batches_are_listed_and_read_as_sdk_batches(client, engine, storage):
    record = create_record(client)
    assert client.get(f"{RECORDS}{record.id}/batches/").json() == []
    first = add_batch(client, record.id, f"{storage}/demo.jsonl")
    second = add_batch(client, record.id, "https://storage.test/later.jsonl")
    run_waiting_batches(engine, str(record.id))  # the second cannot be fetched: it fails
    listed = client.get(f"{RECORDS}{record.id}/batches/")
    assert listed.status_code == 200
    batches = [sdk.ImportBatchRead.model_validate(body) for body in listed.json()]
    assert [(b.id, b.status) for b in batches] == [
        (first.id, sdk.ImportBatchStatus.PARTIALLY_FAILED),
        (second.id, sdk.ImportBatchStatus.FAILED),
    ]
    response = client.get(batch_path(record.id, first.id))
    assert response.status_code == 200
    read = sdk.ImportBatchRead.model_validate(response.json())
    assert (read.id, read.status, read.import_record_id) == (
        first.id,
        sdk.ImportBatchStatus.PARTIALLY_FAILED,
        record.id,
    )
    assert response.json()["results"]["failed"] == len(DEMO_FAILED_LINES)


# GET .../batches/{batch_id}/summary/ --------------------------------------------------


def test_summary_is_an_sdk_summary_counting_every_status(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    response = client.get(batch_path(record.id, batch.id, "summary/"))
    assert response.status_code == 200
    summary = sdk.ImportBatchSummary.model_validate(response.json())
    assert summary.id == summary.import_batch_id == batch.id
    assert summary.import_batch_status == sdk.ImportBatchStatus.PARTIALLY_FAILED
    assert set(summary.results) == set(sdk.ImportResultStatus)
    assert sum(summary.results.values()) == DEMO_RESULTS
    assert summary.results[sdk.ImportResultStatus.FAILED] == len(DEMO_FAILED_LINES)
    assert [detail.split(":")[0] for detail in summary.failure_details] == [
        f"Entry {line}" for line in sorted(DEMO_FAILED_LINES + DEMO_PARTIAL_LINES)
    ]


def test_summary_of_a_new_batch_has_an_empty_list_of_failures(client):
    record = create_record(client)
    batch = add_batch(client, record.id, "https://storage.test/a.jsonl")
    body = client.get(batch_path(record.id, batch.id, "summary/")).json()
    summary = sdk.ImportBatchSummary.model_validate(body)
    assert summary.failure_details == []
    assert summary.import_batch_status == sdk.ImportBatchStatus.CREATED


# GET .../batches/{batch_id}/results/ --------------------------------------------------


def test_results_are_every_line_of_the_batch_at_once(client, engine, storage, monkeypatch):
    record, batch = imported_demo(client, engine, storage)
    monkeypatch.setattr(v1, "_RESULTS_PER_CHUNK", 10)  # the body streamed in several chunks
    response = client.get(batch_path(record.id, batch.id, "results/"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    results = [sdk.ImportResultRead.model_validate(body) for body in response.json()]
    assert len(results) == DEMO_RESULTS
    assert [body["line_number"] for body in response.json()] == sorted(
        body["line_number"] for body in response.json()
    )
    assert sum(result.reference_id is not None for result in results) == DEMO_RESULTS - len(
        DEMO_FAILED_LINES
    )
    ours = client.get(f"/imports/{record.id}/results", params={"limit": 1000}).json()
    assert response.json() == ours  # the same results, in the same body, as /imports


def test_results_filtered_by_result_status(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    response = client.get(
        batch_path(record.id, batch.id, "results/"), params={"result_status": "failed"}
    )
    assert response.status_code == 200
    failed = response.json()
    assert [body["line_number"] for body in failed] == DEMO_FAILED_LINES
    for body in failed:
        result = sdk.ImportResultRead.model_validate(body)
        assert result.reference_id is None
        assert result.failure_details.startswith(f"Entry {body['line_number']}:")
    none = client.get(
        batch_path(record.id, batch.id, "results/"), params={"result_status": "retrying"}
    )
    assert none.json() == []


def test_results_refuse_an_unknown_status_with_422(client):
    record = create_record(client)
    batch = add_batch(client, record.id, "https://storage.test/a.jsonl")
    response = client.get(
        batch_path(record.id, batch.id, "results/"), params={"result_status": "done"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "result_status"]


def test_all_batch_results_read_page_after_page(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    paged = all_batch_results(sql_units(engine), record.id, batch.id, page_size=7)
    whole = client.get(batch_path(record.id, batch.id, "results/")).json()
    assert [str(result.id) for result in paged] == [body["id"] for body in whole]
    completed = all_batch_results(
        sql_units(engine), record.id, batch.id, status=sdk.ImportResultStatus.COMPLETED,
        page_size=4,
    )  # fmt: skip
    lines = [result.line_number for result in completed]
    assert len(lines) == DEMO_RESULTS - len(DEMO_FAILED_LINES) - len(DEMO_PARTIAL_LINES)
    assert lines == sorted(set(lines))


# PATCH /v1/imports/records/{id}/finalise/ ---------------------------------------------


def test_finalise_may_come_first_and_the_record_completes_when_its_batches_are_done(
    client, engine, storage
):
    """As the seed's importers do: register the batches, finalise at once, poll."""
    record = create_record(client)
    add_batch(client, record.id, f"{storage}/demo.jsonl")
    early = client.patch(f"{RECORDS}{record.id}/finalise/")
    assert early.status_code == 204
    assert early.content == b""
    read = sdk.ImportRecordRead.model_validate(client.get(f"{RECORDS}{record.id}/").json())
    assert read.status != sdk.ImportRecordStatus.COMPLETED  # a batch is still to be done
    more = client.post(f"{RECORDS}{record.id}/batches/", json={"storage_url": f"{storage}/x"})
    assert more.status_code == 409  # finalised: no more batches
    assert "is finalised" in more.json()["detail"]

    run_waiting_batches(engine, str(record.id))  # the run completes it, nobody else
    read = sdk.ImportRecordRead.model_validate(client.get(f"{RECORDS}{record.id}/").json())
    assert read.status == sdk.ImportRecordStatus.COMPLETED
    assert client.patch(f"{RECORDS}{record.id}/finalise/").status_code == 204  # harmless
    assert client.post(f"{RECORDS}{record.id}/finalise/").status_code == 405  # PATCH only


def test_our_own_finalise_route_still_refuses_while_a_batch_is_unfinished(client, engine, storage):
    record = create_record(client)
    add_batch(client, record.id, f"{storage}/demo.jsonl")
    refused = client.post(f"/imports/{record.id}/finalise")
    assert refused.status_code == 409
    assert "1 unfinished batch(es)" in refused.json()["detail"]
    run_waiting_batches(engine, str(record.id))
    read = sdk.ImportRecordRead.model_validate(client.get(f"{RECORDS}{record.id}/").json())
    assert read.status == sdk.ImportRecordStatus.STARTED  # left to the importer
    assert client.patch(f"{RECORDS}{record.id}/finalise/").status_code == 204
    read = sdk.ImportRecordRead.model_validate(client.get(f"{RECORDS}{record.id}/").json())
    assert read.status == sdk.ImportRecordStatus.COMPLETED


def test_a_failed_record_cannot_be_finalised_and_is_the_status_the_sdk_lacks(client, engine):
    record = create_record(client)
    fail_record(sql_units(engine), record.id, "given up")
    response = client.patch(f"{RECORDS}{record.id}/finalise/")
    assert response.status_code == 409
    assert "has failed (given up)" in response.json()["detail"]
    body = client.get(f"{RECORDS}{record.id}/").json()
    assert body["status"] == "failed"  # documented in the README: the SDK's enum has no `failed`
    with pytest.raises(ValueError, match="status"):
        sdk.ImportRecordRead.model_validate(body)


# Trailing slashes, authentication, limits, errors, OpenAPI ----------------------------


def test_a_path_without_its_trailing_slash_redirects_to_it(client):
    record = create_record(client)
    batch = add_batch(client, record.id, "https://storage.test/a.jsonl")
    for method, path in [
        ("GET", RECORDS),
        ("POST", RECORDS),
        ("GET", f"{RECORDS}{record.id}/"),
        ("PATCH", f"{RECORDS}{record.id}/finalise/"),
        ("POST", f"{RECORDS}{record.id}/batches/"),
        ("GET", batch_path(record.id, batch.id)),
        ("GET", batch_path(record.id, batch.id, "summary/")),
        ("GET", batch_path(record.id, batch.id, "results/")),
    ]:
        response = client.request(method, path.rstrip("/"), follow_redirects=False)
        assert response.status_code == 307, (method, path)
        assert response.headers["location"] == f"http://testserver{path}"
    followed = client.post(RECORDS.rstrip("/"), json=SDK_RECORD_IN)  # method and body kept
    assert followed.status_code == 201
    assert sdk.ImportRecordRead.model_validate(followed.json()).source_name == "api-tests"


def test_every_v1_route_needs_a_valid_token(client):
    record = create_record(client)
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-a-token"}):
        for method, path in [
            ("GET", RECORDS),
            ("POST", RECORDS),
            ("GET", f"{RECORDS}{record.id}/"),
            ("PATCH", f"{RECORDS}{record.id}/finalise/"),
            ("POST", f"{RECORDS}{record.id}/batches/"),
            ("GET", f"{RECORDS}{record.id}/batches/"),
        ]:
            response = client.request(method, path, headers=headers)
            assert response.status_code == 401, (method, path)
            assert response.headers["WWW-Authenticate"] == "Bearer"


def test_a_body_over_the_limit_is_413(client):
    response = client.post(RECORDS, json=SDK_RECORD_IN | {"notes": "x" * MAX_BODY_BYTES})
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body is over the limit of {MAX_BODY_BYTES} bytes"
    }


def test_an_unusable_database_is_503(client, engine):
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE import_result")
        connection.exec_driver_sql("DROP TABLE import_batch")
        connection.exec_driver_sql("DROP TABLE import_record")
    response = client.get(RECORDS)
    assert response.status_code == 503
    assert "import-pipeline db upgrade" in response.json()["detail"]


def test_the_openapi_document_shows_both_sets_the_v1_one_tagged(client):
    document = client.get("/openapi.json", headers={"Authorization": ""}).json()
    paths = document["paths"]
    v1_paths = {path: sorted(paths[path]) for path in paths if path.startswith("/v1/")}
    record, batch = "/v1/imports/records/{import_record_id}", "{import_batch_id}"
    assert v1_paths == {
        "/v1/imports/records/": ["get", "post"],
        f"{record}/": ["get"],
        f"{record}/finalise/": ["patch"],
        f"{record}/batches/": ["get", "post"],
        f"{record}/batches/{batch}/": ["get"],
        f"{record}/batches/{batch}/summary/": ["get"],
        f"{record}/batches/{batch}/results/": ["get"],
    }
    assert "/imports" in paths
    operations = [op for path in v1_paths for op in paths[path].values()]
    assert all(op["tags"] == [v1.V1_TAG] for op in operations)
    assert v1.V1_TAG in {tag["name"] for tag in document["tags"]}
    codes = {
        (path, method): sorted(op["responses"])
        for path in v1_paths
        for method, op in paths[path].items()
    }
    assert codes[("/v1/imports/records/", "post")][0] == "201"
    assert codes[(f"{record}/finalise/", "patch")][0] == "204"
    assert "403" in codes[(f"{record}/batches/", "post")]
    assert codes[(f"{record}/batches/", "post")][0] == "202"
