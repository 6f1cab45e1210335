"""The import job's executor is the deployment's, read when a run starts, or the run's own.

The executor is built as Dagster builds it at the start of a run (no step runs here):
`IMPORT_PIPELINE_EXECUTOR` picks it when the run config names none, and a run config
that names one wins over the setting.
"""

import pytest
from dagster import InitExecutorContext, instance_for_test, reconstructable

from import_pipeline.orchestration.executor import import_executor
from import_pipeline.orchestration.launch import import_job_from_environment
from import_pipeline.settings import get_settings


@pytest.fixture
def deployment(monkeypatch):
    def configure(**settings):
        for name, value in settings.items():
            monkeypatch.setenv(f"IMPORT_PIPELINE_{name.upper()}", value)
        get_settings.cache_clear()

    yield configure
    get_settings.cache_clear()


def executor_for(run_config):
    with instance_for_test() as instance:
        context = InitExecutorContext(
            job=reconstructable(import_job_from_environment),
            executor_def=import_executor,
            executor_config=run_config,
            instance=instance,
        )
        return import_executor.executor_creation_fn(context)


@pytest.mark.parametrize(
    ("settings", "made"),
    [
        ({}, "InProcessExecutor"),
        ({"concurrency": "3"}, "MultiprocessExecutor"),
        ({"executor": "multiprocess", "concurrency": "2"}, "MultiprocessExecutor"),
        ({"executor": "celery", "celery_queue": "imports_test"}, "WatchedCeleryExecutor"),
    ],
)
def test_without_run_config_the_settings_choose_at_run_start(deployment, settings, made):
    deployment(**settings)
    executor = executor_for({})
    assert type(executor).__name__ == made
    if made == "MultiprocessExecutor":
        assert executor._max_concurrent == int(settings["concurrency"])
    if made == "WatchedCeleryExecutor":
        assert executor.options.queue == "imports_test"
        assert executor.app_args()["config_source"].task_acks_late is True


def test_a_run_config_choice_wins_over_the_setting(deployment):
    deployment(executor="celery")
    assert type(executor_for({"in_process": {"retries": {"enabled": {}}}})).__name__ == (
        "InProcessExecutor"
    )


def test_a_run_config_celery_field_wins_and_the_rest_comes_from_the_settings(deployment):
    deployment(celery_queue="from_settings", celery_lost_step_seconds="42")
    executor = executor_for({"celery": {"queue": "from_run", "broker": None, "backend": None}})
    assert executor.options.queue == "from_run"
    assert executor.options.lost_step_seconds == 42
