"""Result rows on both stores: one per line, ever; a terminal row is never rewritten.

On PostgreSQL the rows go through a temporary staging table (COPY, then one upsert);
two writes in one transaction must each see only their own rows.
"""

from import_pipeline.domain.models import ImportRecord
from import_pipeline.services.registration import register_import
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.store_access import repository


def test_rows_are_settled_once_and_two_writes_in_one_transaction_stay_apart(engine, tmp_path):
    source = tmp_path / "s.jsonl"
    source.write_text('{"identifiers": []}\n' * 4)
    _, [batch] = register_import(
        sql_units(engine),
        ImportRecord(source_name="rows", processor_name="tests", processor_version="1"),
        [str(source)],
    )
    with repository(engine) as imports:
        written = imports.write_results(
            batch.id,
            [
                {"line_number": 1, "status": "completed", "reference_created": True},
                {"line_number": 2, "status": "retrying", "failure_details": "Entry 2: a lock"},
                {"line_number": 3, "status": "failed", "failure_details": "Entry 3: bad"},
            ],
        )
        again = imports.write_results(
            batch.id,
            [
                {"line_number": 2, "status": "completed", "reference_created": False},
                {"line_number": 1, "status": "failed", "failure_details": "Entry 1: late"},
                {"line_number": 4, "status": "completed"},
            ],
        )
        nothing = imports.write_results(batch.id, [])
    with repository(engine) as imports:
        rows = {
            result.line_number: (result.status, result.reference_created, result.failure_details)
            for result in imports.list_results(batch_id=batch.id)
        }
    assert (written, again, nothing) == (3, 3, 0)
    assert rows == {
        1: ("completed", True, None),  # terminal: the later write left it alone
        2: ("completed", False, None),  # settled in place
        3: ("failed", None, "Entry 3: bad"),
        4: ("completed", None, None),
    }
