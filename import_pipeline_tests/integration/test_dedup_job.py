"""The deduplication step in the real import job: its own step, its metadata, its decisions.

Two records run through `import_references` on PostgreSQL: the second one's copy of a
paper (exported without its DOI) is decided a duplicate of the first's by the step
`deduplicate_record`, which runs after the batches and before finalise.
"""

import pytest
from dagster import instance_for_test

from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.bibliographic import paper, write_papers
from import_pipeline_tests.integration.test_import_job import register, run_job
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres

TITLE = "Efficacy of batroxobin for vascular cognitive impairment"


def test_the_job_decides_new_references_in_a_step_of_its_own(pg_engine, postgres_url, tmp_path):
    first = register(pg_engine, write_papers(tmp_path / "a.jsonl", [paper(TITLE, doi="10.1000/a")]))
    second = register(
        pg_engine,
        write_papers(
            tmp_path / "b.jsonl",
            [paper(TITLE + " [Chinese]", other="embase"), paper("Unrelated", other="u")],
        ),
    )
    on = {"deduplicate": True}
    with instance_for_test() as instance:
        assert run_job(postgres_url, instance, first, step_settings=on).success
        result = run_job(postgres_url, instance, second, step_settings=on)
    assert result.success
    steps = [event.step_key for event in result.all_events if event.is_step_success]
    assert steps.index("imported_references.deduplicate_record") < steps.index(
        "imported_references.finalise_import_record"
    )
    [output] = [
        event
        for event in result.all_events
        if event.is_successful_output and event.step_key == "imported_references.deduplicate_record"
    ]
    metadata = output.event_specific_data.metadata
    assert metadata["references"].value == 2
    assert metadata["decisions_duplicate"].value == 1
    assert metadata["decisions_canonical"].value == 1
    assert metadata["decisions_unresolved"].value == 0
    assert metadata["references_per_second"].value > 0
    with repository(pg_engine) as imports:
        [held] = imports.list_results(record_id=first)
        copy, _ = imports.list_results(record_id=second)
    with sql_units(pg_engine)() as uow:
        decision = uow.dedup.decisions_of([copy.reference_id])[copy.reference_id]
    assert decision.duplicate_of == held.reference_id


def test_with_the_setting_off_the_step_decides_nothing(pg_engine, postgres_url, tmp_path):
    record = register(pg_engine, write_papers(tmp_path / "a.jsonl", [paper(TITLE)]))
    with instance_for_test() as instance:
        result = run_job(postgres_url, instance, record)  # the default: off
    assert result.success
    [output] = [
        event
        for event in result.all_events
        if event.is_successful_output and event.step_key == "imported_references.deduplicate_record"
    ]
    assert output.event_specific_data.metadata["deduplication"].value == "off"
    with repository(pg_engine) as imports:
        [line] = imports.list_results(record_id=record)
    with sql_units(pg_engine)() as uow:
        assert uow.dedup.decisions_of([line.reference_id]) == {}
