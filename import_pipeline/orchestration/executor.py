"""`import_executor`: the import job's executor, chosen per deployment or per run.

A run's `execution: config:` may pick one of `in_process`, `multiprocess` (both Dagster's
own, with their own config) or `celery` (steps on celery workers, see `celery_steps.py`).
Without it, the choice is the deployment's: `IMPORT_PIPELINE_EXECUTOR` and its companion
settings, read when the executor is created at the start of the run, in the process that
orchestrates it (the CLI's, a daemon's run worker), never when the definitions are loaded.
So a broker URL, which may hold a password, never lands in a stored run config.

The celery branch imports dagster-celery only when it is chosen: without the `celery`
extra the definitions still load, and a celery run fails with one line saying what to
install.
"""

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import (
    Executor,
    ExecutorRequirement,
    Failure,
    Field,
    InitExecutorContext,
    Noneable,
    Selector,
    StringSource,
    executor,
    in_process_executor,
    multiple_process_executor_requirements,
    multiprocess_executor,
)

from import_pipeline.settings import ExecutorKind, Settings, SettingsError, get_settings

CELERY_EXTRA_MISSING = (
    "the celery executor needs the `celery` extra: install import-pipeline[celery] "
    "(dagster-celery) beside the project"
)


def celery_extra_installed() -> bool:
    """Whether dagster-celery (the `celery` extra) can be imported here."""
    return importlib.util.find_spec("dagster_celery") is not None


CELERY_FIELDS = {
    "broker": Field(
        Noneable(StringSource),
        default_value=None,
        description="Broker URL (default: IMPORT_PIPELINE_CELERY_BROKER).",
    ),
    "backend": Field(
        Noneable(StringSource),
        default_value=None,
        description="Result backend URL (default: IMPORT_PIPELINE_CELERY_BACKEND).",
    ),
    "queue": Field(
        Noneable(str),
        default_value=None,
        description="Queue the steps are sent to (default: IMPORT_PIPELINE_CELERY_QUEUE).",
    ),
    "lost_step_seconds": Field(
        Noneable(float),
        default_value=None,
        description="Seconds a step may be neither queued nor running on a worker before "
        "the run fails (default: IMPORT_PIPELINE_CELERY_LOST_STEP_SECONDS).",
    ),
}

EXECUTOR_CONFIG = Field(
    Selector(  # type: ignore[no-untyped-call]
        {
            ExecutorKind.IN_PROCESS.value: in_process_executor.config_schema.as_field(),
            ExecutorKind.MULTIPROCESS.value: multiprocess_executor.config_schema.as_field(),
            ExecutorKind.CELERY.value: Field(CELERY_FIELDS),
        }
    ),
    is_required=False,
    description="Where the steps run; leave it out for the deployment's choice "
    "(IMPORT_PIPELINE_EXECUTOR).",
)

# What Dagster's own executors read from a config it has filled in; the settings'
# choice is given them in that shape.
_RETRIES_ENABLED: dict[str, object] = {"enabled": {}}
PRELOADED_FORKSERVER = {"forkserver": {"preload_modules": ["import_pipeline.definitions"]}}


def executor_config(concurrency: int) -> dict[str, object]:
    """Run config of the executor: in-process for 1, else up to `concurrency` step processes.

    Step processes start from a forkserver that has preloaded the project, which saves
    most of the interpreter and Dagster start-up that a spawned step pays.
    """
    if concurrency <= 1:
        return {ExecutorKind.IN_PROCESS.value: {}}
    return {
        ExecutorKind.MULTIPROCESS.value: {
            "max_concurrent": concurrency,
            "start_method": PRELOADED_FORKSERVER,
        }
    }


def launch_executor_config(concurrency: int) -> dict[str, object] | None:
    """The executor config of a run the CLI launches with `concurrency` batches at once.

    None on a celery deployment: the run then takes the settings' celery executor when
    it starts; otherwise in-process, or step processes for a concurrency above 1.
    """
    if _settings().executor == ExecutorKind.CELERY:
        return None
    return executor_config(concurrency)


def settings_choice(settings: Settings) -> tuple[ExecutorKind, dict[str, Any]]:
    """The deployment's executor and its config, from `IMPORT_PIPELINE_EXECUTOR` and company.

    `in_process` with a concurrency above 1 runs step processes, as `import --concurrency`
    does; `multiprocess` always does; `celery` sends the steps to the deployment's queue.
    """
    if settings.executor == ExecutorKind.CELERY:
        return ExecutorKind.CELERY, dict.fromkeys(CELERY_FIELDS)
    if settings.executor == ExecutorKind.MULTIPROCESS or settings.concurrency > 1:
        return ExecutorKind.MULTIPROCESS, {
            "max_concurrent": settings.concurrency,
            "start_method": PRELOADED_FORKSERVER,
            "retries": _RETRIES_ENABLED,
        }
    return ExecutorKind.IN_PROCESS, {"retries": _RETRIES_ENABLED}


def _settings() -> Settings:
    try:
        return get_settings()
    except SettingsError as error:
        raise Failure(description=str(error), allow_retries=False) from None


def chosen(executor_config: Mapping[str, Any]) -> tuple[ExecutorKind, dict[str, Any]]:
    """The executor a run's config picks, or the deployment's when it picks none."""
    if not executor_config:
        return settings_choice(_settings())
    [(kind, config)] = executor_config.items()
    return ExecutorKind(kind), dict(config or {})


def _requirements(executor_config: Mapping[str, Any]) -> Sequence[ExecutorRequirement]:
    """What the chosen executor needs: for steps in other processes, what multiprocess does.

    That is a reconstructable job and a non-ephemeral instance.
    """
    kind, _ = chosen(executor_config)
    return [] if kind == ExecutorKind.IN_PROCESS else multiple_process_executor_requirements()


@executor(name="import_executor", config_schema=EXECUTOR_CONFIG, requirements=_requirements)
def import_executor(init_context: InitExecutorContext) -> Executor:
    """In-process, multiprocess or celery, by run config or else by the deployment's settings."""
    kind, config = chosen(init_context.executor_config)
    if kind == ExecutorKind.CELERY:
        if not celery_extra_installed():
            raise Failure(description=CELERY_EXTRA_MISSING, allow_retries=False)
        from import_pipeline.orchestration.celery_steps import (  # noqa: PLC0415 (the extra)
            watched_celery_executor,
        )

        return watched_celery_executor(init_context, config, _settings)
    delegate = in_process_executor if kind == ExecutorKind.IN_PROCESS else multiprocess_executor
    creation = delegate.executor_creation_fn
    assert creation is not None  # noqa: S101 (Dagster's own executors always have one)
    return creation(
        InitExecutorContext(
            job=init_context.job,
            executor_def=delegate,
            executor_config=config,
            instance=init_context.instance,
        )
    )
