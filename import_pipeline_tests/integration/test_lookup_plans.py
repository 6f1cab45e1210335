"""The reference look-ups stay index probes on PostgreSQL, with or without statistics.

With autovacuum off (as on this machine) or not yet run after a bulk load, PostgreSQL
has no statistics for the reference tables and planned the enhancement look-up as a
sequential scan of the whole table for every chunk. Each look-up here runs in a
transaction whose own scan counts (`pg_stat_xact_user_tables`) must show no
sequential scan of the reference tables.
"""

import uuid

import pytest
import sqlalchemy as sa

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.parsing import parse_line
from import_pipeline.references.store import SqlReferenceStore
from import_pipeline.services.registration import register_import
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import open_plain, real_file
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres

SCANS = sa.text(
    "SELECT relname, seq_scan FROM pg_stat_xact_user_tables "
    "WHERE relname IN ('enhancement', 'external_identifier', 'reference')"
)


SOURCE = "synergy_Sep_2021.jsonl.gz"


def real_lines(count):
    with open_plain(real_file(SOURCE)) as handle:
        lines = [parse_line(n, text) for n, text in enumerate(handle, start=1) if text.strip()]
    return [line for line in lines if line.failure is None][:count]


def test_a_chunk_that_matches_existing_references_scans_no_table(pg_engine):
    lines = real_lines(200)
    with pg_engine.begin() as connection:
        SqlReferenceStore(connection).ingest(lines)
    with pg_engine.begin() as connection:  # every line matches now: both look-ups run
        outcomes = SqlReferenceStore(connection).ingest(lines)
        scans = dict(connection.execute(SCANS).tuples().all())
    assert all(outcome.reference_created is False for outcome in outcomes)
    assert scans == {"enhancement": 0, "external_identifier": 0, "reference": 0}


def test_server_side_ids_are_time_ordered(pg_engine):
    _, [batch] = register_import(
        sql_units(pg_engine),
        ImportRecord(source_name="ids", processor_name="tests", processor_version="1"),
        [str(real_file(SOURCE))],
    )
    with repository(pg_engine) as imports:
        imports.write_results(batch.id, [{"line_number": n, "status": "completed"} for n in (1, 2)])
        SqlReferenceStore(imports.connection).ingest(real_lines(3))
        ids = imports.connection.execute(
            sa.text("SELECT id FROM import_result UNION ALL SELECT id FROM enhancement")
        ).scalars()
        versions = {uuid.UUID(str(value)).version for value in ids}
    assert versions == {7}
