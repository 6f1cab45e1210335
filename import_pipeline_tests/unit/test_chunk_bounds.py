"""Chunks are bounded by lines and by source bytes, so memory stays bounded.

A parsed line takes several times its source in Python objects and each writer holds
two chunks; a chunk of 2,000 large lines would take hundreds of megabytes. The sharding
also keeps repeated lines (the same identifiers) in one shard.
"""

import orjson

from import_pipeline.domain.parsing import parse_line
from import_pipeline.services.chunk_pipeline import _sharded_chunks


def _line(number: int, abstract_chars: int) -> bytes:
    return orjson.dumps(
        {
            "identifiers": [{"identifier_type": "pm_id", "identifier": number % 40 + 1}],
            "enhancements": [
                {
                    "source": "test",
                    "visibility": "public",
                    "content": {"enhancement_type": "abstract", "abstract": "x" * abstract_chars},
                }
            ],
        }
    )


def test_a_chunk_closes_at_its_line_count_or_its_source_bytes():
    sizes = [100, 5_000, 20_000, 300, 80_000] * 40
    parsed = [parse_line(n, _line(n, size)) for n, size in enumerate(sizes, start=1)]
    assert all(line.failure is None and line.source_bytes > 0 for line in parsed)
    chunks = list(_sharded_chunks(iter(parsed), 30, 2, max_bytes=100_000))
    for _, chunk in chunks:
        assert len(chunk) <= 30
        assert sum(line.source_bytes for line in chunk[:-1]) < 100_000
    weights = [sum(line.source_bytes for line in chunk) for _, chunk in chunks]
    assert max(weights) >= 100_000  # some chunks closed on bytes
    numbers = sorted(line.line_number for _, chunk in chunks for line in chunk)
    assert numbers == list(range(1, len(sizes) + 1))  # every line once
    shard_of: dict[str, set[int]] = {}
    for shard, chunk in chunks:
        for line in chunk:
            shard_of.setdefault(line.identifiers[0].key, set()).add(shard)
    assert all(len(shards) == 1 for shards in shard_of.values())


def test_small_lines_fill_a_chunk_to_its_line_count():
    parsed = [parse_line(n, _line(n, 50)) for n in range(1, 101)]
    chunks = list(_sharded_chunks(iter(parsed), 10, 1))
    assert [len(chunk) for _, chunk in chunks] == [10] * 10


def test_a_failed_line_weighs_nothing():
    assert parse_line(1, b"{not json").source_bytes == 0
