"""Every route and error code of the HTTP API, against the app on SQLite and PostgreSQL.

Batches are fetched from a real file server on 127.0.0.1 and processed by the same
services the import job calls (the job itself runs in the end-to-end test).
"""

import uuid

import pytest

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import ImportRecordStatus
from import_pipeline.services.finalise import fail_record
from import_pipeline.services.registration import register_import
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.api.conftest import MAX_BODY_BYTES, RECORD_IN, run_waiting_batches
from import_pipeline_tests.store_access import repository

# demo.jsonl (see import_pipeline/samples/README.md): 49 non-blank lines; 47, 48 and 50
# fail, 49 is imported without its invalid identifier.
DEMO_RESULTS = 49
DEMO_FAILED_LINES = [47, 48, 50]
DEMO_PARTIAL_LINES = [49]


def create_record(client, **changes):
    response = client.post("/imports", json=RECORD_IN | changes)
    assert response.status_code == 201, response.text
    return response.json()


def add_batch(client, record_id, url):
    response = client.post(f"/imports/{record_id}/batches", json={"storage_url": url})
    assert response.status_code == 202, response.text
    return response.json()


def imported_demo(client, engine, storage):
    record = create_record(client)
    batch = add_batch(client, record["id"], f"{storage}/demo.jsonl")
    run_waiting_batches(engine, record["id"])
    return record, batch


# POST /imports ------------------------------------------------------------------------


def test_create_answers_201_with_the_record(client):
    record = create_record(client)
    assert uuid.UUID(record["id"]).version == 7
    assert record["status"] == "created"
    assert record["finalised_by"] == "importer"
    assert record["batches"] == []
    assert {key: record[key] for key in RECORD_IN if key != "searched_at"} == {
        key: value for key, value in RECORD_IN.items() if key != "searched_at"
    }
    assert record["searched_at"].startswith("2026-11-01T09:30:00")


def test_create_defaults_searched_at_and_takes_naive_times_as_utc(client):
    without = {key: value for key, value in RECORD_IN.items() if key != "searched_at"}
    assert client.post("/imports", json=without).status_code == 201
    naive = create_record(client, searched_at="2026-01-02T03:04:05")
    assert naive["searched_at"] in {"2026-01-02T03:04:05Z", "2026-01-02T03:04:05+00:00"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"processor_name": None}, "processor_name"),
        ({"expected_reference_count": -2}, "expected_reference_count"),
        ({"expected_reference_count": 2**40}, "expected_reference_count"),
        ({"source_name": ""}, "source_name"),
        ({"notes": "nul \x00 inside"}, "notes"),
        ({"searched_at": "yesterday"}, "searched_at"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_create_refuses_an_invalid_field_naming_it(client, change, field):
    body = {key: value for key, value in (RECORD_IN | change).items() if value is not None}
    response = client.post("/imports", json=body)
    assert response.status_code == 422
    assert [error["loc"][-1] for error in response.json()["detail"]] == [field]


def test_create_refuses_a_body_that_is_not_json(client):
    response = client.post(
        "/imports", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422


# GET /imports -------------------------------------------------------------------------


def test_list_is_newest_first_and_paginated(client):
    ids = [create_record(client, source_name=f"source-{n}")["id"] for n in range(5)]
    listed = client.get("/imports").json()
    assert [record["id"] for record in listed] == ids[::-1]
    assert all(record["batches"] is None for record in listed)

    first = client.get("/imports", params={"limit": 2})
    assert [record["id"] for record in first.json()] == ids[:2:-1][:2]
    assert 'rel="next"' in first.headers["Link"]
    assert "offset=2" in first.headers["Link"]
    last = client.get("/imports", params={"limit": 2, "offset": 4})
    assert [record["id"] for record in last.json()] == [ids[0]]
    assert "Link" not in last.headers


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": 2**31},
        {"limit": 2**64},
        {"offset": -1},
        {"offset": 1_000_000_001},
        {"offset": 2**63},
        {"offset": "1e3"},
    ],
)
@pytest.mark.parametrize("route", ["/imports", "/imports/{id}/results"])
def test_pagination_out_of_range_is_422_naming_the_parameter(client, route, params):
    record = create_record(client)
    response = client.get(route.format(id=record["id"]), params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", next(iter(params))]


# GET /imports/{id} --------------------------------------------------------------------


def test_read_shows_batches_with_statuses_and_counts(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    body = client.get(f"/imports/{record['id']}").json()
    assert body["status"] == "started"  # left open for the importer's finalise call
    [read_batch] = body["batches"]
    assert read_batch["id"] == batch["id"]
    assert read_batch["status"] == "partially_failed"
    assert read_batch["results"]["failed"] == len(DEMO_FAILED_LINES)
    assert body["results"]["completed"] + body["results"]["partially_failed"] == (
        DEMO_RESULTS - len(DEMO_FAILED_LINES)
    )


def test_unknown_record_is_404_naming_it(client):
    missing = uuid.uuid4()
    for method, path in [
        ("GET", f"/imports/{missing}"),
        ("GET", f"/imports/{missing}/results"),
        ("GET", f"/imports/{missing}/batches/{uuid.uuid4()}/summary"),
        ("POST", f"/imports/{missing}/finalise"),
    ]:
        response = client.request(method, path)
        assert response.status_code == 404, (method, path)
        assert response.json() == {"detail": f"no import record with id {missing}"}
    response = client.post(
        f"/imports/{missing}/batches", json={"storage_url": "https://storage.test/a.jsonl"}
    )
    assert response.status_code == 404


def test_a_malformed_id_is_422(client):
    response = client.get("/imports/not-a-uuid")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "record_id"]


# POST /imports/{id}/batches -----------------------------------------------------------


def test_add_batch_answers_202_with_the_created_batch(client):
    record = create_record(client)
    batch = add_batch(client, record["id"], "https://storage.test/refs.jsonl.gz")
    assert batch["status"] == "created"
    assert batch["import_record_id"] == record["id"]
    assert batch["storage_url"] == "https://storage.test/refs.jsonl.gz"
    listed = client.get(f"/imports/{record['id']}").json()["batches"]
    assert [(b["id"], b["status"]) for b in listed] == [(batch["id"], "created")]


@pytest.mark.parametrize(
    "url",
    [
        "/etc/passwd",
        "file:///etc/passwd",
        "ftp://storage.test/a.jsonl",
        "https://",
        "",
        "https://storage.test/a b.jsonl",
        "https://storage.test/a.jsonl\r\nX-Injected: 1",
    ],
)
def test_add_batch_refuses_a_url_that_is_not_http_naming_the_field(client, url):
    record = create_record(client)
    response = client.post(f"/imports/{record['id']}/batches", json={"storage_url": url})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "storage_url"]


@pytest.mark.parametrize("status", [ImportRecordStatus.COMPLETED, ImportRecordStatus.FAILED])
def test_add_batch_to_a_closed_record_is_409(client, engine, status):
    record = create_record(client)
    if status == ImportRecordStatus.COMPLETED:
        assert client.post(f"/imports/{record['id']}/finalise").status_code == 204
    else:
        fail_record(sql_units(engine), uuid.UUID(record["id"]), "given up")
    for url in ["https://storage.test/a.jsonl", "https://10.0.0.1/a.jsonl"]:  # 409 before 403
        response = client.post(f"/imports/{record['id']}/batches", json={"storage_url": url})
        assert response.status_code == 409
    assert response.json() == {
        "detail": f"import record {record['id']} is {status} and accepts no new batches"
    }


# GET /imports/{id}/batches/{batch_id}/summary -----------------------------------------


def test_batch_summary_counts_every_status_and_lists_failures(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    summary = client.get(f"/imports/{record['id']}/batches/{batch['id']}/summary").json()
    assert summary["id"] == summary["import_batch_id"] == batch["id"]
    assert summary["import_batch_status"] == "partially_failed"
    assert set(summary["results"]) == {
        "created", "started", "retrying", "completed", "partially_failed", "failed",
    }  # fmt: skip
    assert sum(summary["results"].values()) == DEMO_RESULTS
    assert summary["results"]["failed"] == len(DEMO_FAILED_LINES)
    assert summary["results"]["partially_failed"] == len(DEMO_PARTIAL_LINES)
    starts = [detail.split(":")[0] for detail in summary["failure_details"]]
    assert starts == [f"Entry {n}" for n in sorted(DEMO_FAILED_LINES + DEMO_PARTIAL_LINES)]


def test_batch_summary_of_a_batch_in_another_record_is_404(client):
    mine, other = create_record(client), create_record(client)
    batch = add_batch(client, other["id"], "https://storage.test/a.jsonl")
    response = client.get(f"/imports/{mine['id']}/batches/{batch['id']}/summary")
    assert response.status_code == 404
    assert response.json() == {
        "detail": f"import record {mine['id']} has no batch with id {batch['id']}"
    }


def test_a_redirecting_url_fails_the_batch_saying_so(client, engine, storage):
    record = create_record(client)
    batch = add_batch(client, record["id"], f"{storage}/redirect/demo.jsonl")
    run_waiting_batches(engine, record["id"])
    summary = client.get(f"/imports/{record['id']}/batches/{batch['id']}/summary").json()
    assert summary["import_batch_status"] == "failed"
    assert summary["failure_details"] == []
    assert "HTTP 302 redirect to" in summary["batch_failure_details"]
    assert "refused" in summary["batch_failure_details"]


# GET /imports/{id}/results ------------------------------------------------------------


def test_results_one_per_line_filtered_and_paginated(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    everything = client.get(f"/imports/{record['id']}/results", params={"limit": 1000}).json()
    assert len(everything) == DEMO_RESULTS
    assert len({result["line_number"] for result in everything}) == DEMO_RESULTS
    assert {result["import_batch_id"] for result in everything} == {batch["id"]}

    failed = client.get(f"/imports/{record['id']}/results", params={"status": "failed"}).json()
    assert [result["line_number"] for result in failed] == DEMO_FAILED_LINES
    assert all(result["reference_id"] is None for result in failed)
    assert all(r["failure_details"].startswith(f"Entry {r['line_number']}:") for r in failed)

    for paging in ("offset", "cursor"):
        pages, offset = [], 0
        page = client.get(f"/imports/{record['id']}/results", params={"limit": 10})
        while True:
            pages.extend(page.json())
            if "Link" not in page.headers:
                break
            if paging == "cursor":  # follow the Link header
                page = client.get(page.links["next"]["url"])
            else:
                offset += 10
                page = client.get(
                    f"/imports/{record['id']}/results", params={"limit": 10, "offset": offset}
                )
        assert [result["id"] for result in pages] == [result["id"] for result in everything]


def test_a_cursor_pages_across_batches_in_source_order(client, engine, storage):
    record = create_record(client)
    first = add_batch(client, record["id"], f"{storage}/demo.jsonl")
    second = add_batch(client, record["id"], f"{storage}/demo.jsonl")
    run_waiting_batches(engine, record["id"])
    url = f"/imports/{record['id']}/results?limit=7&status=completed"
    seen = []
    while url:
        page = client.get(url)
        seen += [(r["import_batch_id"], r["line_number"], r["status"]) for r in page.json()]
        url = page.links.get("next", {}).get("url")
    assert {status for _, _, status in seen} == {"completed"}
    assert [batch for batch, _, _ in seen] == sorted(
        (batch for batch, _, _ in seen), key=[first["id"], second["id"]].index
    )
    assert len(seen) == 2 * (DEMO_RESULTS - len(DEMO_FAILED_LINES) - len(DEMO_PARTIAL_LINES))
    assert len(set(seen)) == len(seen)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"cursor": "not-a-cursor"}, "is not a results cursor"),
        ({"cursor": "{batch}.-4"}, "has a negative line number"),
        ({"cursor": "{batch}.2147483648"}, "has a line number over 2147483647"),
        ({"cursor": "{batch}.99999999999999999999999"}, "has a line number over 2147483647"),
        ({"cursor": "{batch}.+4"}, "is not a results cursor"),
        ({"cursor": "{batch}.4_0"}, "is not a results cursor"),
        ({"cursor": "{batch}.\u0664"}, "is not a results cursor"),  # ARABIC-INDIC DIGIT FOUR
        ({"cursor": "{batch}."}, "is not a results cursor"),
        ({"cursor": f"{uuid.UUID(int=1)}.4"}, "not one of record"),
        ({"cursor": "{batch}.4", "offset": 10}, "either a cursor or an offset"),
    ],
)
def test_a_bad_cursor_is_422_saying_why(client, params, message):
    record = create_record(client)
    batch = add_batch(client, record["id"], "https://storage.test/a.jsonl")
    params = params | {"cursor": params["cursor"].format(batch=batch["id"])}
    response = client.get(f"/imports/{record['id']}/results", params=params)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "cursor"]
    assert message in error["msg"]


def test_a_cursor_at_the_largest_line_number_is_the_end_of_its_batch(client, engine, storage):
    record, batch = imported_demo(client, engine, storage)
    response = client.get(
        f"/imports/{record['id']}/results", params={"cursor": f"{batch['id']}.2147483647"}
    )
    assert response.status_code == 200
    assert response.json() == []


def test_results_refuse_an_unknown_status(client):
    record = create_record(client)
    response = client.get(f"/imports/{record['id']}/results", params={"status": "done"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "status"]


# POST /imports/{id}/finalise ----------------------------------------------------------


def test_finalise_is_409_while_a_batch_is_unfinished_then_204(client, engine, storage):
    record = create_record(client)
    add_batch(client, record["id"], f"{storage}/demo.jsonl")
    refused = client.post(f"/imports/{record['id']}/finalise")
    assert refused.status_code == 409
    assert "1 unfinished batch(es)" in refused.json()["detail"]

    run_waiting_batches(engine, record["id"])
    assert client.get(f"/imports/{record['id']}").json()["status"] == "started"
    done = client.post(f"/imports/{record['id']}/finalise")
    assert done.status_code == 204
    assert done.content == b""
    assert client.get(f"/imports/{record['id']}").json()["status"] == "completed"
    assert client.post(f"/imports/{record['id']}/finalise").status_code == 204


def test_finalise_a_failed_record_is_409(client, engine):
    record = create_record(client)
    fail_record(sql_units(engine), uuid.UUID(record["id"]), "given up")
    response = client.post(f"/imports/{record['id']}/finalise")
    assert response.status_code == 409
    assert "has failed (given up)" in response.json()["detail"]


def test_records_registered_with_their_sources_are_still_finalised_by_their_run(
    client, engine, storage
):
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="cli", processor_name="tests", processor_version="1"),
        [f"{storage}/demo.jsonl"],
    )
    refused = client.post(
        f"/imports/{record.id}/batches", json={"storage_url": "https://storage.test/a.jsonl"}
    )
    assert refused.status_code == 409
    assert "finalised by its run" in refused.json()["detail"]
    run_waiting_batches(engine, str(record.id))
    with repository(engine) as imports:
        assert imports.get_record(record.id).status == ImportRecordStatus.COMPLETED


# Limits and errors --------------------------------------------------------------------


def test_a_body_over_the_limit_is_413(client):
    big = RECORD_IN | {"notes": "x" * MAX_BODY_BYTES}
    assert client.post("/imports", json=big).status_code == 413

    def chunks():  # no Content-Length: the body is counted as it arrives
        yield b'{"notes": "'
        yield b"x" * MAX_BODY_BYTES
        yield b'"}'

    response = client.post(
        "/imports", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body is over the limit of {MAX_BODY_BYTES} bytes"
    }


def test_an_unusable_database_is_503_without_a_stack_trace(client, engine):
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE import_result")
        connection.exec_driver_sql("DROP TABLE import_batch")
        connection.exec_driver_sql("DROP TABLE import_record")
    response = client.get("/imports")
    assert response.status_code == 503
    assert "import-pipeline db upgrade" in response.json()["detail"]
    assert "Traceback" not in response.text
    assert "SELECT" not in response.text


def test_the_openapi_document_lists_every_route(client):
    paths = client.get("/openapi.json", headers={"Authorization": ""}).json()["paths"]
    assert {path: sorted(paths[path]) for path in paths if path.startswith("/imports")} == {
        "/imports": ["get", "post"],
        "/imports/{record_id}": ["get"],
        "/imports/{record_id}/batches": ["post"],
        "/imports/{record_id}/batches/{batch_id}/summary": ["get"],
        "/imports/{record_id}/results": ["get"],
        "/imports/{record_id}/finalise": ["post"],
        "/imports/references/{reference_id}/decision": ["get", "put"],
    }


def test_a_request_without_a_valid_token_is_401(client):
    record = create_record(client)
    for headers in ({"Authorization": ""}, {"Authorization": "Bearer not-a-token"}):
        response = client.get(f"/imports/{record['id']}", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
