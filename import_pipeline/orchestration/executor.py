"""`import_executor`: the import job's executor, chosen per deployment or per run.

A run's `execution: config:` may pick one of `in_process`, `multiprocess` (both Dagster's
own, with their own config), `celery` (steps on celery workers, see `celery_steps.py`) or
`k8s` (dagster-k8s's `k8s_job_executor`, with its own config: a Kubernetes Job per step).
Without it, the choice is the deployment's: `IMPORT_PIPELINE_EXECUTOR` and its companion
settings, read when the executor is created at the start of the run, in the process that
orchestrates it (the CLI's, a daemon's run worker), never when the definitions are loaded.
So a broker URL, which may hold a password, never lands in a stored run config.

The celery and k8s branches import their library only when chosen: without the `celery`
extra (dagster-celery) or the `deploy` group (dagster-k8s) the definitions still load,
and such a run fails with one line saying what to install. The k8s config is checked
against the k8s executor's own schema when the run starts (`k8s_executor_config`, with
`dagster._config.process_config`: Dagster exports no public way, and it is pinned).
"""

import importlib.util
from collections.abc import Mapping, Sequence
from importlib import import_module
from typing import Any

from dagster import (
    Executor,
    ExecutorDefinition,
    ExecutorRequirement,
    Failure,
    Field,
    InitExecutorContext,
    Noneable,
    Permissive,
    Selector,
    StringSource,
    executor,
    in_process_executor,
    multiple_process_executor_requirements,
    multiprocess_executor,
)
from dagster._config import process_config

from import_pipeline.settings import ExecutorKind, Settings, SettingsError, get_settings

CELERY_EXTRA_MISSING = (
    "the celery executor needs the `celery` extra: install import-pipeline[celery] "
    "(dagster-celery) beside the project"
)
K8S_MISSING = (
    "the k8s executor needs dagster-k8s: install the project's `deploy` group "
    "(uv sync --group deploy), as the image of deploy/kubernetes does"
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
            ExecutorKind.K8S.value: Field(
                Permissive(),  # type: ignore[no-untyped-call]
                description="The k8s_job_executor's config (dagster-k8s), checked when the "
                "run starts.",
            ),
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

    None on a celery or k8s deployment: the run then takes the settings' executor when it
    starts; otherwise in-process, or step processes for a concurrency above 1.
    """
    if _settings().executor in {ExecutorKind.CELERY, ExecutorKind.K8S}:
        return None
    return executor_config(concurrency)


def runs_steps_in_process(concurrency: int) -> bool:
    """Whether a run the CLI launches with `concurrency` runs its steps in the CLI's process."""
    config = launch_executor_config(concurrency)
    return config is not None and ExecutorKind.IN_PROCESS.value in config


def settings_choice(settings: Settings) -> tuple[ExecutorKind, dict[str, Any]]:
    """The deployment's executor and its config, from `IMPORT_PIPELINE_EXECUTOR` and company.

    `in_process` with a concurrency above 1 runs step processes, as `import --concurrency`
    does; `multiprocess` always does; `celery` sends the steps to the deployment's queue.
    """
    if settings.executor == ExecutorKind.CELERY:
        return ExecutorKind.CELERY, dict.fromkeys(CELERY_FIELDS)
    if settings.executor == ExecutorKind.K8S:
        return ExecutorKind.K8S, {}
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
    if kind == ExecutorKind.K8S:
        return _k8s_executor(init_context, config)
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


def k8s_executor_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """`config` checked against the `k8s_job_executor`'s schema, with its defaults filled in.

    Raises `Failure` with the schema's first complaint (a misspelt key, a wrong type), or
    when dagster-k8s is not installed.
    """
    if importlib.util.find_spec("dagster_k8s") is None:
        raise Failure(description=K8S_MISSING, allow_retries=False)
    k8s_job_executor = import_module("dagster_k8s").k8s_job_executor
    checked = process_config(k8s_job_executor.config_schema.config_type, dict(config))
    if not checked.success:
        problem = checked.errors[0].message if checked.errors else "invalid"
        raise Failure(
            description=f"the k8s executor's config is not valid: {problem}", allow_retries=False
        )
    return dict(checked.value or {})


def _k8s_executor(init_context: InitExecutorContext, config: Mapping[str, Any]) -> Executor:
    """dagster-k8s's `k8s_job_executor` on `config` (a Kubernetes Job per step)."""
    checked = k8s_executor_config(config)
    k8s_job_executor: ExecutorDefinition = import_module("dagster_k8s").k8s_job_executor
    creation = k8s_job_executor.executor_creation_fn
    assert creation is not None  # noqa: S101 (the k8s executor always has one)
    return creation(
        InitExecutorContext(
            job=init_context.job,
            executor_def=k8s_job_executor,
            executor_config=checked,
            instance=init_context.instance,
        )
    )
