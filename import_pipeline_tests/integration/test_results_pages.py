"""Reading every result of a record page by page gives each result once, in order."""

from importlib import resources

import pytest

from import_pipeline.domain.models import ImportRecord
from import_pipeline.services.batches import process_batch
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.services.results_pages import all_results
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.store_access import repository


@pytest.mark.parametrize("page_size", [1, 7, 49, 1000])
def test_all_results_reads_every_page_once_in_source_order(engine, page_size):
    with resources.as_file(resources.files("import_pipeline.samples") / "demo.jsonl") as demo:
        record, _ = register_import(
            sql_units(engine),
            ImportRecord(source_name="pages", processor_name="tests", processor_version="1"),
            [str(demo), str(demo)],
        )
        for batch_id in start_and_plan(sql_units(engine), record.id, batch_size=20):
            process_batch(sql_units(engine), batch_id, chunk_size=10)
    with repository(engine) as imports:
        expected = [row.id for row in imports.list_results(record_id=record.id)]
    paged = [row.id for row in all_results(sql_units(engine), record.id, page_size=page_size)]
    assert len(expected) == 2 * 49
    assert paged == expected
