"""When a batch says how far it has got, and what the record's progress reads."""

import uuid

from import_pipeline.services.progress import BatchProgress, BatchProgressLog


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def log_with(total, interval=10.0):
    clock, lines = Clock(), []
    log = BatchProgressLog(lines.append, interval=interval, clock=clock)
    batch_id = uuid.UUID(int=1)
    return log, clock, lines, lambda done: log.update(BatchProgress(batch_id, done, total))


def test_a_line_every_interval_even_when_few_lines_settle():
    _, clock, lines, update = log_with(total=1_000_000)
    update(10)
    assert lines == []  # nothing is due yet
    clock.now += 10
    update(20)
    assert lines == [f"batch {uuid.UUID(int=1)}: 20 of 1,000,000 (0%) lines settled, 2 lines/s"]
    clock.now += 5
    update(30)
    assert len(lines) == 1


def test_a_line_every_tenth_of_the_lines_even_when_quick():
    _, clock, lines, update = log_with(total=1000)
    for done in range(50, 1001, 50):
        clock.now += 0.01
        update(done)
    assert [line.split(": ")[1].split(" lines")[0] for line in lines] == [
        f"{n:,} of 1,000 ({n // 10}%)" for n in range(100, 1001, 100)
    ]


def test_no_line_without_new_lines_and_none_by_share_for_an_unsplit_source():
    _, clock, lines, update = log_with(total=None)
    update(5_000)
    assert lines == []  # an unknown total: by time only
    clock.now += 11
    update(5_000)
    assert len(lines) == 1
    assert "5,000 lines settled" in lines[0]
    clock.now += 11
    update(5_000)  # nothing new settled: nothing to say
    assert len(lines) == 1
