"""`duplicate_of` and the decision counts on every surface, on both stores.

The CLI (`results --json`, `status --json`, `dedupe`, `decide`, run in-process with
click's runner against the test's database) and the HTTP API (results, the record,
the decision routes) show what the deduplication step decided, in the same models.
"""

import json
import re

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from import_pipeline.api.app import create_app
from import_pipeline.cli import main
from import_pipeline.services.deduplication import deduplicate_record
from import_pipeline.services.storage_policy import StoragePolicy
from import_pipeline.settings import get_settings
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.bibliographic import import_papers, paper
from import_pipeline_tests.store_access import repository

TITLE = "Efficacy of batroxobin for vascular cognitive impairment"
TOKEN = "dedup-surfaces-token"  # noqa: S105 (a test's token)


@pytest.fixture
def two_records(engine, tmp_path):
    """A paper, then its copy without DOI and an unrelated paper; nothing decided yet."""
    units = sql_units(engine)
    first = import_papers(units, tmp_path / "a.jsonl", [paper(TITLE, doi="10.1000/a")])
    second = import_papers(
        units,
        tmp_path / "b.jsonl",
        [paper(TITLE + " [Chinese]", other="embase"), paper("Unrelated", other="u")],
    )
    with repository(engine) as imports:
        [held] = imports.list_results(record_id=first)
        copy, unrelated = imports.list_results(record_id=second)
    return first, second, held.reference_id, copy.reference_id, unrelated.reference_id


@pytest.fixture
def invoke(engine, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", database_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    get_settings.cache_clear()

    def run(*args):
        result = CliRunner().invoke(main, [str(arg) for arg in args])
        assert result.exit_code == 0, result.output
        return result.output

    yield run
    get_settings.cache_clear()


def test_the_status_says_when_a_records_duplicates_are_not_decided_yet(invoke, two_records):
    first, second, *_ = two_records
    assert f"duplicates: not decided (`import-pipeline dedupe {second}`" in invoke("status", second)
    invoke("dedupe", first)
    invoke("dedupe", second)
    assert "duplicates: canonical 1, duplicate 1, pending 0, unresolved 0" in invoke(
        "status", second
    )


def test_the_cli_dedupes_a_record_and_shows_duplicate_of(invoke, two_records):
    first, second, held, copy, unrelated = two_records
    invoke("dedupe", first)
    said = invoke("dedupe", second)
    assert "2 new reference(s)" in said
    assert re.search(r"; index pass \d+\.\d\d s\)", said), said
    results = json.loads(invoke("results", second, "--json"))
    assert [r["duplicate_of"] for r in results] == [str(held), None]
    record = json.loads(invoke("status", second, "--json"))
    assert record["deduplication"] == {
        "canonical": 1,
        "duplicate": 1,
        "pending": 0,
        "unresolved": 0,
    }
    decided = json.loads(invoke("decide", unrelated, "--duplicate-of", copy, "--json"))
    assert (decided["duplicate_of"], decided["decided_by"]) == (str(held), "person")
    invoke("dedupe", second)  # the person's decision survives
    results = json.loads(invoke("results", second, "--json"))
    assert [r["duplicate_of"] for r in results] == [str(held), str(held)]


def test_decide_wants_exactly_one_choice(engine, database_url, monkeypatch, two_records):
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", database_url)
    get_settings.cache_clear()
    _, _, held, copy, _ = two_records
    both = CliRunner().invoke(main, ["decide", str(copy), "--canonical", "--duplicate-of", held])
    assert both.exit_code == 2
    itself = CliRunner().invoke(main, ["decide", str(held), "--duplicate-of", str(held)])
    assert itself.exit_code == 2
    assert "duplicate of itself" in itself.output
    get_settings.cache_clear()


def test_the_api_shows_duplicate_of_and_records_a_persons_decision(engine, two_records):
    first, second, held, copy, unrelated = two_records
    app = create_app(
        engine, tokens=[TOKEN], storage_policy=StoragePolicy.from_entries([]), max_body_bytes=4096
    )
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        deduplicate_record(sql_units(engine), first)
        deduplicate_record(sql_units(engine), second)
        results = client.get(f"/imports/{second}/results").json()
        assert [r["duplicate_of"] for r in results] == [str(held), None]
        record = client.get(f"/imports/{second}").json()
        assert record["deduplication"]["duplicate"] == 1
        decision = client.get(f"/imports/references/{copy}/decision").json()
        assert (decision["determination"], decision["decided_by"]) == ("duplicate", "automatic")
        put = client.put(f"/imports/references/{copy}/decision", json={"duplicate_of": None})
        assert put.status_code == 200
        assert (put.json()["determination"], put.json()["decided_by"]) == ("canonical", "person")
        assert client.get(f"/imports/{second}/results").json()[0]["duplicate_of"] is None
        loop = client.put(f"/imports/references/{held}/decision", json={"duplicate_of": str(held)})
        assert loop.status_code == 409
        unknown = client.get(f"/imports/references/{first}/decision")  # a record id
        assert unknown.status_code == 404
        anonymous = client.get(
            f"/imports/references/{copy}/decision", headers={"Authorization": ""}
        )
        assert anonymous.status_code == 401
        assert unrelated  # decided canonical, untouched
