"""The finalise step reads the record's batches from the database, never its inputs.

Across workers, the mapped outputs a finalise step receives can be short of the record's
batches: a re-execution from failure once re-ran only the collect step with 7 of 8
batch outputs and reported success. Here the finalise op is handed reports that say
every batch is done while one batch is still unfinished in PostgreSQL: it must refuse,
leave the record `started`, and complete it once the batch is really done.
"""

import pytest
import sqlalchemy as sa
from dagster import Failure, build_op_context, instance_for_test

from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.orchestration.ops import finalise_import_record
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.services.planning import start_and_plan_batches
from import_pipeline.store.tables import import_batch
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import sdk_sample
from import_pipeline_tests.integration.test_import_job import register
from import_pipeline_tests.store_access import repository

pytestmark = pytest.mark.postgres


def finalise(postgres_url, instance, record_id, reports):
    with build_op_context(
        resources={"database": DatabaseResource(database_url=postgres_url)},
        partition_key=str(record_id),
        instance=instance,
    ) as context:
        return finalise_import_record(context, batch_reports=reports)


def test_a_batch_left_unfinished_keeps_the_record_started_whatever_the_inputs_say(
    pg_engine, postgres_url
):
    record_id = register(
        pg_engine, sdk_sample("eppi_import.jsonl"), sdk_sample("eppi_import_with_raw.jsonl")
    )
    first, second = start_and_plan_batches(sql_units(pg_engine), record_id, 50_000)
    with pg_engine.begin() as connection:  # the first batch done, the second never run
        connection.execute(
            sa.update(import_batch)
            .where(import_batch.c.id == first.id)
            .values(status=str(ImportBatchStatus.COMPLETED))
        )
    told_all_done = [
        {"batch_id": str(batch.id), "status": "completed", "lines": 4, "seconds": 0.1}
        for batch in (first, second)
    ]
    with instance_for_test() as instance:
        with pytest.raises(Failure, match=rf"1 unfinished batch\(es\), first {second.id}"):
            finalise(postgres_url, instance, record_id, told_all_done)
        with repository(pg_engine) as imports:
            assert imports.get_record(record_id).status == ImportRecordStatus.STARTED

        with pg_engine.begin() as connection:
            connection.execute(
                sa.update(import_batch)
                .where(import_batch.c.id == second.id)
                .values(status=str(ImportBatchStatus.COMPLETED))
            )
        finalise(postgres_url, instance, record_id, told_all_done[:1])  # inputs short: fine
    with repository(pg_engine) as imports:
        assert imports.get_record(record_id).status == ImportRecordStatus.COMPLETED
