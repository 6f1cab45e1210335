"""Property-based: requests generated from the OpenAPI document never get a 5xx.

Schemathesis draws valid and invalid requests for every operation (positive and
negative data; our `/imports` routes and the DESTINY `/v1` ones), sends them to the app on a real store (SQLite and PostgreSQL), and
checks that no answer is a server error and that every documented answer matches its
schema. Half of the path ids name a record that exists, with a batch, so that the
routes are exercised past their 404s.
"""

import uuid

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from import_pipeline.api.app import create_app
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import FinalisedBy
from import_pipeline.services.registration import add_batch, open_record
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.api.conftest import AUTH, TOKEN

pytestmark = pytest.mark.slow


# One app for the module (schemathesis reads its OpenAPI document at import time); each
# test points it at that test's database and known record.
APP = create_app(
    None,  # type: ignore[arg-type]  # set per test by `api_on_store`
    tokens=[TOKEN],
    storage_policy=StoragePolicy.from_entries(["storage.test"]),
    max_body_bytes=16 * 1024,
)
KNOWN: dict[str, uuid.UUID] = {}
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.hook
def map_path_parameters(context, path_parameters):
    """Half of the cases name the known record (and its batch), on both route sets."""
    for record, batch in (("record_id", "batch_id"), ("import_record_id", "import_batch_id")):
        if path_parameters and str(path_parameters.get(record, ""))[-1:] in set("02468ace"):
            path_parameters[record] = str(KNOWN["record_id"])
            if batch in path_parameters:
                path_parameters[batch] = str(KNOWN["batch_id"])
    return path_parameters


@pytest.fixture
def api_on_store(engine):
    """The app on this test's store, with a record and one batch to find."""
    record = open_record(
        sql_units(engine),
        ImportRecord(
            source_name="props",
            processor_name="tests",
            processor_version="1",
            finalised_by=FinalisedBy.IMPORTER,
        ),
    )
    batch = add_batch(sql_units(engine), record.id, "https://storage.test/a.jsonl")
    KNOWN.update(record_id=record.id, batch_id=batch.id)
    APP.state.engine, APP.state.units = engine, sql_units(engine)
    yield
    KNOWN.clear()


@schema.parametrize()
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_gets_a_server_error(case, api_on_store):
    case.call_and_validate(headers=AUTH, checks=[not_a_server_error, response_schema_conformance])


# Schemathesis draws few strings with unusual characters; these draw any text and any
# integer for the request bodies, which is how a NUL character (no database text column
# stores it) and out-of-range counts were found.
_AWKWARD = "\x00\x01\t\n\r\u2028\ufeff\U0001f600'\"\\%_;-a"
# Any character JSON can carry (UTF-8 encodable: no lone surrogates).
_TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.text(_AWKWARD, max_size=10)
_NAME = (
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20)
    | _TEXT
)
_RECORD_BODIES = st.fixed_dictionaries(
    {
        "processor_name": _NAME,
        "processor_version": _NAME,
        "source_name": _NAME,
        "expected_reference_count": st.integers(-1, 2**31 - 1) | st.integers(),
        "search_string": st.none() | _TEXT,
        "notes": st.none() | _TEXT,
    },
    optional={
        "searched_at": st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    },
)


_URLS = st.text(st.characters(codec="utf-8"), max_size=60) | _TEXT.map(
    lambda path: f"https://storage.test/{path}"
)


@given(body=_RECORD_BODIES, url=_URLS)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_text_in_a_body_is_accepted_or_refused_never_a_server_error(api_on_store, body, url):
    with TestClient(APP, headers=AUTH) as client:
        created = client.post("/imports", json=body)
        assert created.status_code in {201, 422}, created.text
        record_id = created.json()["id"] if created.status_code == 201 else KNOWN["record_id"]
        batch = client.post(f"/imports/{record_id}/batches", json={"storage_url": url})
        assert batch.status_code in {202, 403, 422}, batch.text


# Any integer, and often one at the edge of a 32- or 64-bit column.
_INTEGERS = (
    st.integers()
    | st.integers(2**31 - 2, 2**31 + 1)
    | st.integers(2**63 - 2, 2**64)
    | st.integers(-(2**63) - 1, -(2**63) + 1)
)


@given(line=_INTEGERS, limit=_INTEGERS, offset=_INTEGERS)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_any_integer_in_a_query_is_accepted_or_refused_never_a_server_error(
    api_on_store, line, limit, offset
):
    """A results cursor's line number beyond the integer column used to answer 500."""
    results = f"/imports/{KNOWN['record_id']}/results"
    with TestClient(APP, headers=AUTH) as client:
        for path, params in [
            (results, {"cursor": f"{KNOWN['batch_id']}.{line}"}),
            (results, {"limit": limit}),
            (results, {"offset": offset}),
            ("/imports", {"limit": limit}),
            ("/imports", {"offset": offset}),
        ]:
            response = client.get(path, params=params)
            assert response.status_code in {200, 422}, (path, params, response.text)
