"""Sensors and the schedule evaluated as the daemon would, on a real temporary instance."""

import datetime
import json
import os
import shutil
import time

import pytest
import sqlalchemy as sa
from dagster import (
    RunRequest,
    ScheduleDefinition,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
)

from import_pipeline.definitions import build_definitions
from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import (
    FinalisedBy,
    ImportBatchStatus,
    ImportRecordStatus,
)
from import_pipeline.orchestration.partitions import IMPORT_RECORDS_PARTITION
from import_pipeline.orchestration.resources import DatabaseResource
from import_pipeline.orchestration.run_config import SOURCE_TAG
from import_pipeline.orchestration.schedules import scheduled_import
from import_pipeline.orchestration.sensors import new_source_sensor, registered_batches_sensor
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.landing import printable
from import_pipeline.services.registration import add_batch, open_record, register_import
from import_pipeline.settings import SettingsError, get_settings, load_settings
from import_pipeline.store.tables import import_batch
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import non_blank_lines, sdk_sample
from import_pipeline_tests.store_access import repository
from import_pipeline_tests.unit.test_landing import refuse_to_open


@pytest.fixture
def settings_env(monkeypatch, tmp_path, sqlite_url):
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("IMPORT_PIPELINE_LANDING_DIR", str(tmp_path / "landing"))
    monkeypatch.setenv("IMPORT_PIPELINE_LANDING_SETTLE_SECONDS", "5")
    (tmp_path / "landing").mkdir()
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def land(directory, name, age_seconds=60.0):
    target = directory / name
    shutil.copyfile(sdk_sample("eppi_import.jsonl"), target)
    then = time.time() - age_seconds
    os.utime(target, (then, then))
    return target


def tick(sensor, instance, cursor=None, log=None):
    """One evaluation of `sensor`, as the daemon makes it; `log` gets the tick's log lines."""
    with build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"database": DatabaseResource()},
        definitions=build_definitions(),
        instance_ref=instance.get_ref(),
        repository_name="tests",  # with the sensor's name: the tick's log is kept
        sensor_name=sensor.name,
    ) as context:
        result = sensor.evaluate_tick(context)
    if log is not None:
        stored = instance.compute_log_manager.get_log_data(context.log_key).stderr or b""
        log += [json.loads(line)["msg"] for line in stored.decode().splitlines() if line]
    return result


def test_new_file_gives_a_partition_and_a_run_once(settings_env, sqlite_url):
    land(settings_env / "landing", "eppi.jsonl")
    with instance_for_test() as instance:
        result = tick(new_source_sensor, instance)
        [request] = result.run_requests
        [add] = result.dynamic_partitions_requests
        assert add.partition_keys == [request.partition_key]
        assert request.tags["import_pipeline/source"] == "eppi"
        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, add.partition_keys)
        again = tick(new_source_sensor, instance, cursor=result.cursor)
        assert again.run_requests == []
        assert "no new settled source" in again.skip_message
    engine = DatabaseResource(database_url=sqlite_url).engine
    with repository(engine) as imports:
        [record] = imports.list_records()
        [batch] = imports.list_batches(record.id)
    assert str(record.id) == request.partition_key
    assert batch.storage_url.endswith("landing/eppi.jsonl")


def test_a_file_being_written_is_left_for_later(settings_env):
    land(settings_env / "landing", "growing.jsonl", age_seconds=0.5)
    with instance_for_test() as instance:
        result = tick(new_source_sensor, instance)
    assert result.run_requests == []
    assert "no new settled source" in result.skip_message
    assert "1 file(s) seen" in result.skip_message


def test_unreadable_landing_directory_is_a_skip_with_the_reason(settings_env, monkeypatch):
    missing = settings_env / "nowhere"
    monkeypatch.setenv("IMPORT_PIPELINE_LANDING_DIR", str(missing))
    get_settings.cache_clear()
    with instance_for_test() as instance:
        result = tick(new_source_sensor, instance)
    assert result.run_requests == []
    assert result.skip_message.startswith(f"landing directory {missing} cannot be read:")
    assert "No such file or directory" in result.skip_message


# Files that cannot be registered as they are: how each is made, and what the log says.
BAD_FILES = {
    "text count": (b'{"expected_reference_count": "lots"}', "expected_reference_count: Input should be a valid integer, got 'lots'"),
    "not JSON": (b'{"source_name": "x",}', "sidecar bad.jsonl.meta.json is not valid: Invalid JSON"),
    "list as name": (b'{"source_name": ["eppi"]}', "source_name: Input should be a valid string"),
    "unknown field": (b'{"sourcename": "eppi"}', "sourcename: Extra inputs are not permitted"),
    "unreadable sidecar": ("directory", "sidecar bad.jsonl.meta.json cannot be read (Is a directory)"),
    "unreadable file": ("no access", "bad.jsonl: cannot be read (Permission denied)"),
    "file name not UTF-8": ("Latin-1 name", "the file name is not UTF-8 text"),
}  # fmt: skip


def land_bad_file(landing, how, monkeypatch):
    """Land a file that cannot be registered as it is (`how`: sidecar bytes or a kind)."""
    if how == "Latin-1 name":
        return land(landing, os.fsdecode(b"bad\xe9.jsonl"))
    bad = land(landing, "bad.jsonl")
    sidecar = landing / "bad.jsonl.meta.json"
    if how == "directory":
        sidecar.mkdir()
    elif how == "no access":
        refuse_to_open(monkeypatch, bad)
    else:
        sidecar.write_bytes(how)
    return bad


@pytest.mark.parametrize(("how", "said"), BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_bad_file_waits_and_the_others_are_registered_in_the_same_tick(
    settings_env, sqlite_url, monkeypatch, how, said
):
    landing = settings_env / "landing"
    land(landing, "a.jsonl")
    bad = printable(land_bad_file(landing, how, monkeypatch))
    land(landing, "z.jsonl")  # after the bad file in the directory's order
    log = []
    with instance_for_test() as instance:
        result = tick(new_source_sensor, instance, log=log)
        assert sorted(request.tags[SOURCE_TAG] for request in result.run_requests) == ["a", "z"]
        [add] = result.dynamic_partitions_requests
        assert sorted(add.partition_keys) == sorted(r.partition_key for r in result.run_requests)
        [entry] = [line for line in log if bad in line]
        assert said in entry

        instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, add.partition_keys)
        alone = tick(new_source_sensor, instance)  # now only the bad file is new
    assert alone.run_requests == []
    assert alone.skip_message.startswith(f"no new file could be registered: {bad}: ")
    assert said in alone.skip_message
    with repository(DatabaseResource(database_url=sqlite_url).engine) as imports:
        assert sorted(record.source_name for record in imports.list_records()) == ["a", "z"]


def test_a_file_whose_sidecar_is_fixed_is_registered_at_a_later_tick(settings_env):
    landing = settings_env / "landing"
    land(landing, "eppi.jsonl")
    sidecar = landing / "eppi.jsonl.meta.json"
    sidecar.write_text('{"expected_reference_count": "lots"}')
    with instance_for_test() as instance:
        assert tick(new_source_sensor, instance).run_requests == []
        sidecar.write_text('{"source_name": "EPPI", "expected_reference_count": 4}')
        [request] = tick(new_source_sensor, instance).run_requests
    assert request.tags[SOURCE_TAG] == "EPPI"


def test_registered_batches_get_one_run_each(settings_env, sqlite_url):
    engine = DatabaseResource(database_url=sqlite_url).engine
    record, [batch] = register_import(
        sql_units(engine),
        ImportRecord(source_name="api", processor_name="p", processor_version="1"),
        [str(sdk_sample("eppi_import.jsonl"))],
    )
    with instance_for_test() as instance:
        early = tick(registered_batches_sensor, instance)
        assert early.run_requests == []  # within the grace period of `import`
        with engine.begin() as connection:
            connection.execute(
                sa.update(import_batch).values(
                    created_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
                )
            )
        result = tick(registered_batches_sensor, instance)
        [request] = result.run_requests
        assert request.partition_key == str(record.id)
        assert request.run_key == f"batches:{batch.id}"
        assert result.dynamic_partitions_requests[0].partition_keys == [str(record.id)]


def schedule_tick(instance, when):
    with build_schedule_context(
        instance=instance,
        scheduled_execution_time=when,
        resources={"database": DatabaseResource()},
        repository_def=build_definitions().get_repository_def(),
        instance_ref=instance.get_ref(),
    ) as context:
        return scheduled_import.evaluate_tick(context)


def test_schedule_imports_the_dated_source(settings_env, monkeypatch):
    exports = settings_env / "exports"
    exports.mkdir()
    shutil.copyfile(sdk_sample("eppi_import.jsonl"), exports / "refs-2026-11-25.jsonl")
    monkeypatch.setenv("IMPORT_PIPELINE_SCHEDULED_SOURCE", str(exports / "refs-%Y-%m-%d.jsonl"))
    get_settings.cache_clear()
    with instance_for_test() as instance:
        data = schedule_tick(instance, datetime.datetime(2026, 11, 25, 3, tzinfo=datetime.UTC))
        [request] = data.run_requests
        assert isinstance(request, RunRequest)
        assert instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, request.partition_key)
        assert request.run_key == f"scheduled:{request.partition_key}"
        again = schedule_tick(instance, datetime.datetime(2026, 11, 25, 3, tzinfo=datetime.UTC))
        assert again.run_requests[0].partition_key == request.partition_key  # same record

        missing = schedule_tick(instance, datetime.datetime(2026, 11, 26, 3, tzinfo=datetime.UTC))
    assert missing.run_requests == []
    assert (
        missing.skip_message
        == f"scheduled source {exports / 'refs-2026-11-26.jsonl'} does not exist (yet)"
    )


def test_schedule_without_a_source_skips_saying_so(settings_env):
    with instance_for_test() as instance:
        data = schedule_tick(instance, datetime.datetime(2026, 11, 25, 3, tzinfo=datetime.UTC))
    assert data.run_requests == []
    assert "IMPORT_PIPELINE_SCHEDULED_SOURCE is not set" in data.skip_message


TICKS = [new_source_sensor, registered_batches_sensor, scheduled_import]


def evaluate(definition, instance):
    """One tick of a sensor or of the schedule (on the schedule's first test date)."""
    if isinstance(definition, ScheduleDefinition):
        return schedule_tick(instance, datetime.datetime(2026, 11, 25, 3, tzinfo=datetime.UTC))
    return tick(definition, instance)


@pytest.mark.parametrize("definition", TICKS, ids=lambda definition: definition.name)
def test_missing_tables_are_a_skip_that_says_what_to_run(monkeypatch, tmp_path, definition):
    monkeypatch.setenv("IMPORT_PIPELINE_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    monkeypatch.setenv("IMPORT_PIPELINE_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("IMPORT_PIPELINE_SCHEDULED_SOURCE", str(land(tmp_path, "eppi.jsonl")))
    get_settings.cache_clear()
    try:
        with instance_for_test() as instance:
            result = evaluate(definition, instance)
    finally:
        get_settings.cache_clear()
    assert result.run_requests == []
    assert "no such table" in result.skip_message
    assert "import-pipeline db upgrade" in result.skip_message


@pytest.mark.parametrize("definition", TICKS, ids=lambda definition: definition.name)
def test_a_bad_setting_is_a_skip_with_its_one_line_message(settings_env, monkeypatch, definition):
    monkeypatch.setenv("IMPORT_PIPELINE_BATCH_SIZE", "abc")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as expected:
        load_settings()
    with instance_for_test() as instance:
        result = evaluate(definition, instance)
    assert result.run_requests == []
    assert result.skip_message == str(expected.value)
    assert result.skip_message.startswith("IMPORT_PIPELINE_BATCH_SIZE='abc' is not valid")


def test_registration_job_registers_a_record_the_sensor_then_runs(settings_env, sqlite_url):
    defs = build_definitions()
    with instance_for_test() as instance:
        result = defs.resolve_job_def("register_import_source").execute_in_process(
            instance=instance,
            run_config={
                "ops": {
                    "register_source": {
                        "config": {
                            "sources": [str(sdk_sample("eppi_import.jsonl"))],
                            "source_name": "launchpad",
                        }
                    }
                }
            },
        )
        key = result.output_for_node("register_source")
        assert instance.has_dynamic_partition(IMPORT_RECORDS_PARTITION, key)
        engine = DatabaseResource(database_url=sqlite_url).engine
        with engine.begin() as connection:
            connection.execute(
                sa.update(import_batch).values(
                    created_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=5)
                )
            )
        [request] = tick(registered_batches_sensor, instance).run_requests
    assert request.partition_key == key
    assert request.tags["import_pipeline/source"] == "launchpad"


def test_batches_added_over_http_run_at_once_and_the_record_waits_for_finalise(
    settings_env, sqlite_url
):
    """A record the importer finalises: each batch gets its own run, the record stays open."""
    engine = DatabaseResource(database_url=sqlite_url).engine
    record = open_record(
        sql_units(engine),
        ImportRecord(
            source_name="api",
            processor_name="p",
            processor_version="1",
            finalised_by=FinalisedBy.IMPORTER,
        ),
    )
    job = build_definitions().resolve_job_def("import_references")
    with instance_for_test() as instance:
        for sample in ("eppi_import.jsonl", "eppi_import_with_raw.jsonl"):
            batch = add_batch(sql_units(engine), record.id, str(sdk_sample(sample)))
            result = tick(registered_batches_sensor, instance)  # no grace period
            [request] = result.run_requests
            assert request.run_key == f"batches:{batch.id}"
            for add in result.dynamic_partitions_requests:
                instance.add_dynamic_partitions(IMPORT_RECORDS_PARTITION, add.partition_keys)
            run = job.execute_in_process(
                run_config=request.run_config,
                instance=instance,
                partition_key=request.partition_key,
                tags=request.tags,
            )
            assert run.success
            with repository(engine) as imports:
                assert imports.get_record(record.id).status == ImportRecordStatus.STARTED
                assert imports.get_batch(batch.id).status == ImportBatchStatus.COMPLETED
            assert tick(registered_batches_sensor, instance).run_requests == []
    finalise_record(sql_units(engine), record.id, by=FinalisedBy.IMPORTER)
    with repository(engine) as imports:
        assert imports.get_record(record.id).status == ImportRecordStatus.COMPLETED
        counts = imports.count_results(record_id=record.id)
    expected = sum(
        non_blank_lines(sdk_sample(name))
        for name in ("eppi_import.jsonl", "eppi_import_with_raw.jsonl")
    )
    assert counts["completed"] == expected
