"""Where each batch's line range starts in its source, and reading a range from there.

The count that plans a local file also finds the byte offset of each range's first
line, so that the batch of a late range seeks there instead of reading every line
before it (a million-line file in 20 batches read its lines ten times over). The
offsets must be exact on files of many read blocks, with or without a last newline,
plain or gzip-compressed, and a range read from its offset must be the range read
from the start.
"""

import gzip
import random

import pytest

from import_pipeline.sources import count_lines_and_offsets, iter_source_lines


def _source(tmp_path, seed: int, *, compressed: bool, last_newline: bool):
    rng = random.Random(seed)
    lines = [
        b"" if rng.random() < 0.05 else b'{"n": %d, "pad": "%s"}' % (n, b"x" * rng.randint(0, 1400))
        for n in range(1, 6_001)
    ]
    lines[-1] = b'{"n": 6000}'  # the last line is not blank, so the source has 6,000
    data = b"\n".join(lines) + (b"\n" if last_newline else b"")
    path = tmp_path / ("source.jsonl.gz" if compressed else "source.jsonl")
    path.write_bytes(gzip.compress(data) if compressed else data)
    return path, data


def _line_starts(data: bytes) -> list[int]:
    return [0] + [at + 1 for at, byte in enumerate(data) if byte == ord("\n")]


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("last_newline", [False, True])
def test_offsets_are_where_each_range_starts(tmp_path, compressed, last_newline):
    path, data = _source(tmp_path, 7, compressed=compressed, last_newline=last_newline)
    assert len(data) > 3 * (1 << 20)  # several of the count's read blocks
    total, offsets = count_lines_and_offsets(str(path), every=997)
    assert total == 6_000
    starts = _line_starts(data)
    assert offsets == [starts[line - 1] for line in range(1, total + 1, 997)]


@pytest.mark.parametrize("compressed", [False, True])
def test_a_range_read_from_its_offset_is_the_range_read_from_the_start(tmp_path, compressed):
    path, _ = _source(tmp_path, 11, compressed=compressed, last_newline=True)
    _, offsets = count_lines_and_offsets(str(path), every=1_500)
    for index, offset in enumerate(offsets):
        first, last = index * 1_500 + 1, (index + 1) * 1_500
        from_start = list(iter_source_lines(str(path), first, last))
        from_offset = list(iter_source_lines(str(path), first, last, offset=offset))
        assert from_offset == from_start
        assert from_start[0][0] >= first and from_start[-1][0] <= last


def test_no_offsets_without_a_range_size(tmp_path):
    path, _ = _source(tmp_path, 3, compressed=False, last_newline=False)
    assert count_lines_and_offsets(str(path), every=0) == (6_000, [])
