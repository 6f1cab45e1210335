"""The bounded wait's rules, on a scripted broker and clock: when a step counts as lost.

The real thing (a worker killed, RabbitMQ, dagster-celery's loop) is exercised in
`distributed/`; here each rule is pinned down at the second, which a real run cannot do.
"""

import pytest

from import_pipeline.orchestration.step_watch import QueueState, StepLostError, StepWatch


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class ScriptedProbe:
    """Answers what the test says the broker and workers would; records the asks."""

    def __init__(self):
        self.state = QueueState(messages=0, consumers=1, running=frozenset())
        self.asked: list[list[str]] = []

    def __call__(self, task_ids):
        self.asked.append(list(task_ids))
        return self.state


class Result:
    def __init__(self, task_id):
        self.id = task_id
        self.arrived = False
        self.revoked = False

    def ready(self):
        return self.arrived

    def get(self):
        return ["events"]

    def revoke(self):
        self.revoked = True


@pytest.fixture
def watch_parts():
    clock, probe = Clock(), ScriptedProbe()
    watch = StepWatch(probe, "q", lost_after=20.0, poll_seconds=5.0, clock=clock)
    return watch, probe, clock


def test_a_running_task_is_never_lost(watch_parts):
    watch, probe, clock = watch_parts
    result = watch.watched("batch[a]", Result("t1"))
    probe.state = QueueState(messages=0, consumers=1, running=frozenset({"t1"}))
    for _ in range(40):  # 200 s of a long step
        clock.now += 5
        assert not result.ready()


def test_a_task_nowhere_is_lost_after_the_wait_and_names_its_step(watch_parts):
    watch, _probe, clock = watch_parts
    inner = Result("t1")
    result = watch.watched("batch[a]", inner)
    clock.now = 19.0
    assert not result.ready()
    clock.now = 21.0
    assert result.ready()
    assert inner.revoked  # should it turn up after all, it is not run
    with pytest.raises(StepLostError, match=r"step batch\[a\] is lost: .*neither queued"):
        result.get()


def test_no_consumer_says_no_worker_serves_the_queue(watch_parts):
    watch, probe, clock = watch_parts
    probe.state = QueueState(messages=3, consumers=0, running=frozenset())
    result = watch.watched("plan", Result("t1"))
    clock.now = 25.0
    assert result.ready()
    with pytest.raises(StepLostError, match="no celery worker has served queue 'q' for 25 s"):
        result.get()


def test_a_queue_with_messages_and_a_worker_keeps_every_task_waiting(watch_parts):
    watch, probe, clock = watch_parts
    probe.state = QueueState(messages=5, consumers=1, running=frozenset())
    result = watch.watched("batch[b]", Result("t2"))
    for _ in range(20):
        clock.now += 5
        assert not result.ready()
    probe.state = QueueState(messages=0, consumers=1, running=frozenset())  # drained
    clock.now += 19
    assert not result.ready()
    clock.now += 6
    assert result.ready()


def test_a_task_seen_again_after_a_gap_starts_a_new_wait(watch_parts):
    watch, probe, clock = watch_parts
    result = watch.watched("batch[a]", Result("t1"))
    clock.now = 15.0
    assert not result.ready()
    probe.state = QueueState(messages=0, consumers=1, running=frozenset({"t1"}))  # redelivered
    clock.now = 21.0
    assert not result.ready()
    probe.state = QueueState(messages=0, consumers=1, running=frozenset())
    clock.now = 40.0  # 19 s since it was last seen
    assert not result.ready()
    clock.now = 42.0
    assert result.ready()


def test_an_arrived_result_is_ready_and_is_no_longer_asked_about(watch_parts):
    watch, probe, clock = watch_parts
    inner = Result("t1")
    result = watch.watched("batch[a]", inner)
    inner.arrived = True
    assert result.ready()
    assert result.get() == ["events"]
    clock.now = 100.0
    watch.watched("batch[b]", Result("t2"))
    watch.lost("batch[b]")
    assert probe.asked[-1] == ["t2"]


def test_the_broker_is_asked_at_most_once_per_poll_interval(watch_parts):
    watch, probe, clock = watch_parts
    results = [watch.watched(f"batch[{n}]", Result(f"t{n}")) for n in range(5)]
    for _ in range(10):
        clock.now += 0.5
        for result in results:
            result.ready()
    assert len(probe.asked) == 1
