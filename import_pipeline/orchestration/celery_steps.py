"""Steps on celery workers: the deployment's celery app, the watched executor, the worker.

One app configuration serves both sides, so that the executor and the workers agree on
broker, backend and queue (a mismatch makes a run wait for ever):
- the queue is the deployment's (`IMPORT_PIPELINE_CELERY_QUEUE`), never the `dagster`
  queue every dagster-celery user shares on a broker;
- a worker takes one task at a time per process (prefetch 1) and acknowledges it only
  when it has run (`task_acks_late`), also when its process died under it
  (`task_reject_on_worker_lost`): the broker then hands the step to another worker, or
  to this one once restarted; the batch step's writes are idempotent (a line settled is
  skipped), so running it again is harmless;
- the executor watches every step's task (`step_watch.py`), so a run whose worker is gone
  fails within `lost_step_seconds` instead of waiting for ever.

Requires the `celery` extra (dagster-celery); imported only when celery is chosen.
"""

import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from amqp.exceptions import NotFound
from celery import Celery
from celery.exceptions import DuplicateTaskNameWarning
from dagster import Executor, InitExecutorContext
from dagster_celery import celery_executor
from dagster_celery.core_execution_loop import core_celery_execution_loop
from dagster_celery.executor import CeleryExecutor, _submit_task
from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_task

from import_pipeline.orchestration.step_watch import QueueState, StepWatch
from import_pipeline.settings import Settings


@dataclass(frozen=True)
class CeleryOptions:
    """Where the steps of a deployment go: broker, result backend, queue, and the wait."""

    broker: str
    backend: str
    queue: str
    lost_step_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> "CeleryOptions":
        """The deployment's options (`IMPORT_PIPELINE_CELERY_*`)."""
        return cls(
            broker=settings.celery_broker,
            backend=settings.celery_backend,
            queue=settings.celery_queue,
            lost_step_seconds=settings.celery_lost_step_seconds,
        )

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any], settings: Callable[[], Settings]
    ) -> "CeleryOptions":
        """A run's `celery:` executor config, each field left out taken from the settings."""
        given = {key: value for key, value in config.items() if value is not None}
        if len(given) == len(cls.__dataclass_fields__):
            return cls(**given)
        return cls(**{**vars(cls.from_settings(settings())), **given})

    def app_config(self) -> dict[str, Any]:
        """The celery configuration both the executor and the workers use."""
        return {
            "task_default_queue": self.queue,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "task_default_priority": 5,
            "broker_connection_retry_on_startup": True,
            # dagster-celery's own defaults: give up publishing after three quick tries.
            "broker_transport_options": {
                "max_retries": 3,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
            },
        }


def celery_app(options: CeleryOptions) -> Celery:
    """The deployment's celery app, with dagster-celery's step task registered."""
    app = make_app({"broker": options.broker, "backend": options.backend})
    app.conf.update(options.app_config())
    create_task(app)
    return app


class CeleryQueueProbe:
    """Asks the broker for the queue's depth and consumers, and the workers for tasks."""

    def __init__(self, app: Celery, queue: str, reply_seconds: float = 1.0) -> None:
        """Probe `queue` on `app`'s broker; workers get `reply_seconds` to answer."""
        self._app = app
        self._queue = queue
        self._reply_seconds = reply_seconds

    def __call__(self, task_ids: Iterable[str]) -> QueueState:
        """The queue's state and which of `task_ids` a worker holds (active or reserved)."""
        ids = list(task_ids)
        with self._app.connection_for_read() as connection:
            channel = connection.channel()
            try:
                _, messages, consumers = channel.queue_declare(queue=self._queue, passive=True)
            except NotFound:  # no worker has declared it yet
                messages, consumers = 0, 0
            finally:
                channel.close()
        running: set[str] = set()
        if consumers and ids:
            inspect = self._app.control.inspect(timeout=self._reply_seconds, limit=consumers)
            for tasks in (inspect.query_task(*ids) or {}).values():
                running.update(tasks)
        return QueueState(messages=messages, consumers=consumers, running=frozenset(running))


class WatchedCeleryExecutor(Executor):
    """dagster-celery's executor, with every step's task watched for a lost worker.

    dagster-celery's execution loop runs the plan; it reads the broker and backend
    (`app_args`) and the retry mode from this executor, and calls `submit` for each step,
    whose result it polls every second: the watched result turns ready once its step is
    lost.
    """

    def __init__(self, options: CeleryOptions, delegate: CeleryExecutor) -> None:
        """Run as `delegate` (configured from `options`), watching each step's task."""
        self.options = options
        self._delegate = delegate

    @property
    def retries(self) -> Any:
        """The retry mode of the steps (enabled: the batch op requests its retries)."""
        return self._delegate.retries

    def app_args(self) -> dict[str, Any]:
        """Broker, backend and celery configuration, for the execution loop's app."""
        return dict(self._delegate.app_args())

    def execute(self, plan_context: Any, execution_plan: Any) -> Any:
        """Run the plan on the workers, as dagster-celery does, each result watched."""
        watch = StepWatch(
            CeleryQueueProbe(make_app(self.app_args()), self.options.queue),
            self.options.queue,
            lost_after=self.options.lost_step_seconds,
        )

        def submit(app: Celery, context: Any, step: Any, *args: Any) -> Any:
            with warnings.catch_warnings():
                # dagster-celery registers its task again on each submit, which celery 5.7
                # warns about; the task it sends is the same.
                warnings.simplefilter("ignore", DuplicateTaskNameWarning)
                result = _submit_task(app, context, step, *args)
            return watch.watched(step.key, result)

        return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=submit)


def watched_celery_executor(
    init_context: InitExecutorContext,
    config: Mapping[str, Any],
    settings: Callable[[], Settings],
) -> WatchedCeleryExecutor:
    """The celery executor of a run: its `celery:` config, the rest from the settings."""
    options = CeleryOptions.from_config(config, settings)
    creation = celery_executor.executor_creation_fn
    assert creation is not None  # noqa: S101 (dagster-celery's executor has one)
    delegate = creation(
        InitExecutorContext(
            job=init_context.job,
            executor_def=celery_executor,
            executor_config={
                "broker": options.broker,
                "backend": options.backend,
                "config_source": options.app_config(),
                "include": [],
                "retries": {"enabled": {}},
            },
            instance=init_context.instance,
        )
    )
    return WatchedCeleryExecutor(options, cast(CeleryExecutor, delegate))


def run_worker(options: CeleryOptions, *, concurrency: int, name: str | None) -> None:
    """Run a celery worker serving the deployment's queue until it is stopped.

    Each of its `concurrency` processes runs one step at a time; the worker needs the
    project installed and, for each step, the database and Dagster instance its run names.
    """
    argv = [
        "worker",
        f"--queues={options.queue}",
        f"--concurrency={concurrency}",
        "--prefetch-multiplier=1",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
    ]
    if name:
        argv.append(f"--hostname={name}")
    celery_app(options).worker_main(argv)
