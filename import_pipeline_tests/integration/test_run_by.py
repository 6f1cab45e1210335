"""A record registered by `import-pipeline import` is that command's: no sensor runs it.

Even when the command died between registering it and running it, the daemon's
`registered_batches_sensor` leaves it alone; records meant for the daemon (registered
by `import-pipeline register`, the HTTP API, ...) are run as before.
"""

import datetime

import pytest
import sqlalchemy as sa
from dagster import instance_for_test

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import RunBy
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.orchestration.sensors import registered_batches_sensor
from import_pipeline.services.registration import register_import
from import_pipeline.store.tables import import_batch
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import sdk_sample
from import_pipeline_tests.integration.test_sensors_and_schedule import (  # noqa: F401 (fixture)
    settings_env,
    tick,
)
from import_pipeline_tests.store_access import repository


def registered(engine, run_by):
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(
            source_name=str(run_by), processor_name="p", processor_version="1", run_by=run_by
        ),
        [str(sdk_sample("eppi_import.jsonl"))],
    )
    return record


@pytest.mark.usefixtures("settings_env")
def test_the_sensor_runs_daemon_records_only(sqlite_url):
    engine = DatabaseResource(database_url=sqlite_url).engine
    command = registered(engine, RunBy.COMMAND)
    daemon = registered(engine, RunBy.DAEMON)
    with engine.begin() as connection:  # both waited long past the sensor's grace period
        connection.execute(
            sa.update(import_batch).values(
                created_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=1)
            )
        )
    with instance_for_test() as instance:
        result = tick(registered_batches_sensor, instance)
    assert [request.partition_key for request in result.run_requests] == [str(daemon.id)]
    with repository(engine) as imports:
        stored = imports.get_record(command.id)
    assert stored is not None and stored.run_by == RunBy.COMMAND


def test_records_default_to_the_daemon(engine):
    record = registered(engine, RunBy.DAEMON)
    with repository(engine) as imports:
        stored = imports.get_record(record.id)
    assert ImportRecord(source_name="s", processor_name="p", processor_version="1").run_by == (
        RunBy.DAEMON
    )
    assert stored is not None and stored.run_by == RunBy.DAEMON
