"""A bounded wait for steps sent to workers: a step whose task is lost fails its run.

A celery result never arrives when the worker that took the task dies without
acknowledging it to anyone (acks-early, a pool child killed, a broker that dropped the
message), and dagster-celery would then wait for ever. The watch asks the broker and
the workers, at most every few seconds, whether each step's task is still somewhere: in
the queue (while a worker serves it) or active or reserved on a worker. A step whose
task has been nowhere for `lost_after` seconds is lost: its result reads as ready and
raises `StepLostError`, which fails the run with a message naming the step.

Only the queue's depth is known, not which tasks wait in it: while the queue holds
messages and has a consumer, every task counts as waiting. A lost task is then noticed
once the queue has drained, so the wait stays bounded by the work queued before it.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol


class StepLostError(Exception):
    """A step's task is neither queued nor running anywhere: its result will never come."""


@dataclass(frozen=True)
class QueueState:
    """What the broker and the workers say at one look."""

    messages: int
    """Messages waiting in the queue (not yet delivered to a worker)."""
    consumers: int
    """Workers consuming the queue."""
    running: frozenset[str]
    """Ids of the asked tasks that a worker reports active or reserved."""


class QueueProbe(Protocol):
    """Looks at the queue and asks the workers about some tasks."""

    def __call__(self, task_ids: Iterable[str]) -> QueueState:
        """The queue's state, and which of `task_ids` a worker holds."""


class AsyncStepResult(Protocol):
    """The part of celery's `AsyncResult` that dagster-celery's execution loop uses."""

    id: str

    def ready(self) -> bool:
        """Whether the task has finished."""

    def get(self) -> Any:
        """The task's return value (or its exception, raised)."""

    def revoke(self) -> Any:
        """Ask the workers not to run the task."""


@dataclass
class _Watched:
    task_id: str
    last_seen: float


class StepWatch:
    """Tracks the tasks of a run's steps and tells which ones are lost."""

    def __init__(
        self,
        probe: QueueProbe,
        queue: str,
        *,
        lost_after: float,
        poll_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Watch tasks on `queue`; `lost_after` seconds nowhere make a task lost."""
        self._probe = probe
        self._queue = queue
        self._lost_after = lost_after
        self._poll_seconds = min(poll_seconds, lost_after / 4)
        self._clock = clock
        self._steps: dict[str, _Watched] = {}
        self._last_poll = float("-inf")
        self._consumers = 0

    def watched(self, step_key: str, result: AsyncStepResult) -> "WatchedResult":
        """Start watching `step_key`'s task (just submitted, so seen now)."""
        self._steps[step_key] = _Watched(result.id, self._clock())
        return WatchedResult(result, step_key, self)

    def done(self, step_key: str) -> None:
        """Stop watching a step whose result has arrived."""
        self._steps.pop(step_key, None)

    def lost(self, step_key: str) -> str | None:
        """Why `step_key`'s task is lost, or None while it may still finish."""
        self._poll_if_due()
        watched = self._steps.get(step_key)
        if watched is None:
            return None
        silent = self._clock() - watched.last_seen
        if silent < self._lost_after:
            return None
        if self._consumers == 0:
            return f"no celery worker has served queue {self._queue!r} for {silent:.0f} s"
        return (
            f"its celery task has been neither queued nor running on a worker of queue "
            f"{self._queue!r} for {silent:.0f} s: the worker that took it is gone"
        )

    def _poll_if_due(self) -> None:
        now = self._clock()
        if not self._steps or now - self._last_poll < self._poll_seconds:
            return
        self._last_poll = now
        state = self._probe(watched.task_id for watched in self._steps.values())
        self._consumers = state.consumers
        queued = state.messages > 0 and state.consumers > 0
        for watched in self._steps.values():
            if queued or watched.task_id in state.running:
                watched.last_seen = now


class WatchedResult:
    """A step's celery result that turns ready, with `StepLostError`, once the step is lost."""

    def __init__(self, result: AsyncStepResult, step_key: str, watch: StepWatch) -> None:
        """Wrap `result`, the task of `step_key`, watched by `watch`."""
        self._result = result
        self._step_key = step_key
        self._watch = watch
        self._lost: str | None = None
        self.id = result.id

    def ready(self) -> bool:
        """Whether the result has arrived, or the step is lost."""
        if self._lost is not None or self._result.ready():
            self._watch.done(self._step_key)
            return True
        self._lost = self._watch.lost(self._step_key)
        if self._lost is None:
            return False
        self._result.revoke()  # should it turn up after all, it is not run
        self._watch.done(self._step_key)
        return True

    def get(self) -> Any:
        """The step's events, or `StepLostError` naming the step."""
        if self._lost is not None:
            raise StepLostError(f"step {self._step_key} is lost: {self._lost}")
        return self._result.get()

    def revoke(self) -> Any:
        """Ask the workers not to run the step (the run is being terminated)."""
        return self._result.revoke()
