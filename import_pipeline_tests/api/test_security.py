"""Bearer authentication on every route, and storage URLs refused against SSRF."""

import logging
import uuid

import pytest
from fastapi.testclient import TestClient

from import_pipeline.api.app import create_app
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.store.engine import create_db_engine
from import_pipeline_tests.api.conftest import OTHER_TOKEN, RECORD_IN, TOKEN

ANY_ID = uuid.uuid4()
ROUTES = [
    ("POST", "/imports", RECORD_IN),
    ("GET", "/imports", None),
    ("GET", f"/imports/{ANY_ID}", None),
    ("POST", f"/imports/{ANY_ID}/batches", {"storage_url": "https://storage.test/a.jsonl"}),
    ("GET", f"/imports/{ANY_ID}/batches/{ANY_ID}/summary", None),
    ("GET", f"/imports/{ANY_ID}/results", None),
    ("POST", f"/imports/{ANY_ID}/finalise", None),
]


@pytest.fixture
def sqlite_client(sqlite_url):
    """The API on SQLite (authentication does not depend on the store)."""
    engine = create_db_engine(sqlite_url)
    app = create_app(engine, tokens=[TOKEN], storage_policy=StoragePolicy(), max_body_bytes=4096)
    with TestClient(app) as test_client:
        yield test_client
    engine.dispose()


@pytest.mark.parametrize(("method", "path", "body"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", "Bearer", f"Bearer {TOKEN}x"],
    ids=["none", "wrong", "basic", "empty", "longer"],
)
def test_every_route_needs_a_valid_token(sqlite_client, method, path, body, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = sqlite_client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {
        "detail": "a valid bearer token is required (Authorization: Bearer <token>)"
    }


@pytest.mark.parametrize("token", [TOKEN, OTHER_TOKEN], ids=["first", "second"])
def test_each_configured_token_is_accepted(client, token):
    response = client.get("/imports", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_health_and_the_openapi_document_need_no_token(client):
    client.headers.pop("Authorization")
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200


def test_without_tokens_the_api_is_open(engine):
    app = create_app(engine, tokens=[], storage_policy=StoragePolicy(), max_body_bytes=4096)
    with TestClient(app) as open_client:
        assert open_client.get("/imports").status_code == 200


@pytest.fixture
def strict_client(engine):
    """The API with an empty allow-list: only public https hosts."""
    app = create_app(engine, tokens=[TOKEN], storage_policy=StoragePolicy(), max_body_bytes=4096)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as test_client:
        yield test_client


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/refs.jsonl",
        "https://127.0.0.1:8443/refs.jsonl",
        "https://localhost/refs.jsonl",
        "https://10.0.0.1/refs.jsonl",
        "https://10.255.3.4:9000/refs.jsonl",
        "https://169.254.169.254/latest/meta-data/",
        "https://192.168.1.10/refs.jsonl",
        "https://[::1]/refs.jsonl",
        "https://[::ffff:127.0.0.1]/refs.jsonl",
        "https://0.0.0.0/refs.jsonl",
        "https://[::127.0.0.1]/refs.jsonl",
        "https://[64:ff9b::7f00:1]/refs.jsonl",
        "https://[2002:7f00:1::]/refs.jsonl",
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/refs.jsonl",
        "https://192.0.0.8/refs.jsonl",
    ],
)
def test_private_loopback_and_link_local_urls_are_refused(strict_client, url):
    record = strict_client.post("/imports", json=RECORD_IN).json()
    response = strict_client.post(f"/imports/{record['id']}/batches", json={"storage_url": url})
    assert response.status_code == 403
    assert "resolves to a non-public address" in response.json()["detail"]
    assert strict_client.get(f"/imports/{record['id']}").json()["batches"] == []


def test_plain_http_needs_an_allow_listed_host(strict_client):
    record = strict_client.post("/imports", json=RECORD_IN).json()
    response = strict_client.post(
        f"/imports/{record['id']}/batches", json={"storage_url": "http://8.8.8.8/refs.jsonl"}
    )
    assert response.status_code == 403
    assert "must use https" in response.json()["detail"]


@pytest.mark.parametrize(
    ("allowlist", "url", "accepted"),
    [
        (["127.0.0.1"], "http://127.0.0.1:8080/refs.jsonl", True),
        (["127.0.0.1:8080"], "http://127.0.0.1:8080/refs.jsonl", True),
        (["127.0.0.1:8080"], "http://127.0.0.1:8081/refs.jsonl", False),
        (["10.0.0.5"], "https://10.0.0.5/refs.jsonl", True),
        (["169.254.169.254"], "http://169.254.169.254/latest/", True),
        (["storage.test"], "https://STORAGE.test/refs.jsonl", True),
        (["storage.test"], "https://8.8.8.8/refs.jsonl", False),  # list given: only it
        (["storage.test"], "https://storage.test.evil.example/refs.jsonl", False),
    ],
)
def test_the_allow_list_admits_its_hosts_only(engine, allowlist, url, accepted):
    policy = StoragePolicy.from_entries(allowlist)
    app = create_app(engine, tokens=[TOKEN], storage_policy=policy, max_body_bytes=4096)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as test_client:
        record = test_client.post("/imports", json=RECORD_IN).json()
        response = test_client.post(f"/imports/{record['id']}/batches", json={"storage_url": url})
    assert response.status_code == (202 if accepted else 403), response.text


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t@storage.test/refs.jsonl",
        "https://s3cr3t@storage.test/refs.jsonl",
        "https://storage.test@127.0.0.1/refs.jsonl",  # an allow-listed name as the user
        "https://user:s3cr3t@storage.test:99999/refs.jsonl",
        "https://user:s3cr3t\uff20storage.test/refs.jsonl",  # FULLWIDTH COMMERCIAL AT
    ],
)
def test_a_url_with_user_information_is_422_and_neither_stored_nor_repeated(client, caplog, url):
    caplog.set_level(logging.DEBUG)
    record = client.post("/imports", json=RECORD_IN).json()
    response = client.post(f"/imports/{record['id']}/batches", json={"storage_url": url})
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "storage_url"]
    assert "must not contain user information" in error["msg"]
    secret = url.split("//", 1)[1].split("@")[0].split("\uff20")[0]
    assert secret not in response.text
    assert not any(secret in value for value in response.headers.values())
    assert not any(secret in entry.getMessage() for entry in caplog.records)
    assert client.get(f"/imports/{record['id']}").json()["batches"] == []
