"""Ids made in blocks (`uuid7_many`) keep what one-at-a-time ids promise, and more.

Version 7 and the RFC 4122 variant; the millisecond of the clock; unique; ascending in
the order they are handed out, within one call, across calls, across threads, and past
4,096 in one millisecond (the sequence carries into the millisecond). The stream hands
out at most a block it does not use.
"""

import itertools
import threading
import time
import uuid

from import_pipeline.domain.models import uuid7, uuid7_many, uuid7_stream


def _milliseconds(value: uuid.UUID) -> int:
    return value.int >> 80


def test_ids_of_one_call_are_version_7_of_now_and_ascend():
    before = time.time_ns() // 1_000_000
    ids = uuid7_many(10_000)
    after = time.time_ns() // 1_000_000
    assert all(i.version == 7 and i.variant == uuid.RFC_4122 for i in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert before <= _milliseconds(ids[0]) <= after
    # 10,000 ids carry the 12-bit sequence into the next milliseconds, no further.
    assert _milliseconds(ids[-1]) - _milliseconds(ids[0]) <= 10_000 // 4096 + 1


def test_ids_ascend_across_calls_and_one_at_a_time():
    made = [*uuid7_many(3), uuid7(), *uuid7_many(5000), uuid7(), uuid7()]
    assert made == sorted(made)
    assert len(set(made)) == len(made)


def test_ids_made_by_threads_at_once_are_unique_and_each_threads_ascend():
    found: list[list[uuid.UUID]] = [[] for _ in range(4)]

    def make(into: list[uuid.UUID]) -> None:
        for _ in range(200):
            into.extend(uuid7_many(50))

    threads = [threading.Thread(target=make, args=(into,)) for into in found]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = list(itertools.chain.from_iterable(found))
    assert len(set(every)) == len(every) == 4 * 200 * 50
    assert all(ids == sorted(ids) for ids in found)


def test_the_random_part_differs_between_ids():
    ids = uuid7_many(1000)
    tails = {i.int & ((1 << 62) - 1) for i in ids}
    assert len(tails) == 1000


def test_a_stream_hands_out_ascending_ids_a_block_at_a_time():
    stream = uuid7_stream(block=8)
    taken = [next(stream) for _ in range(20)]
    assert taken == sorted(taken) and len(set(taken)) == 20
    later = uuid7()
    assert later > taken[-1]  # the stream's third block was made before it


def test_a_child_forked_while_another_thread_makes_ids_can_make_ids():
    """The lock a thread held at the fork is not the child's: the child does not hang."""
    import os  # noqa: PLC0415

    holding = threading.Event()
    release = threading.Event()

    def hold_the_lock() -> None:
        from import_pipeline.domain import models  # noqa: PLC0415

        with models._stamp_lock:
            holding.set()
            release.wait(5)

    thread = threading.Thread(target=hold_the_lock)
    thread.start()
    holding.wait(5)
    pid = os.fork()
    if pid == 0:  # the child: one id, then out, whatever happens
        try:
            uuid7_many(3)
            os._exit(0)
        finally:
            os._exit(1)
    release.set()
    thread.join()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.01)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        raise AssertionError("the forked child hung making an id")
    assert os.waitstatus_to_exitcode(status) == 0
