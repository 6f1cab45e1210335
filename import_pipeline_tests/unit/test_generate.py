"""The benchmarks' generator: complete files or none (the benchmark reuses a file it finds)."""

import random
from pathlib import Path

import pytest

import benchmarks.generate as generator


def test_a_file_has_every_line_and_the_same_bytes_for_the_same_seed(tmp_path: Path) -> None:
    first = generator.generate(tmp_path / "a.jsonl", 200, seed=3, shape="sparse")
    again = generator.generate(tmp_path / "b.jsonl", 200, seed=3, shape="sparse")
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes().count(b"\n") == 200
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.jsonl", "b.jsonl"]


def test_a_generation_stopped_half_way_leaves_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A benchmark killed while generating (here: interrupted at line 50) leaves nothing
    that the next run would take for the whole file, not even over an older one."""
    target = tmp_path / "bench.jsonl"
    target.write_bytes(b"an older file\n")
    made = 0
    real_line = generator._line

    def line_then_stop(rng: random.Random, n: int, shape: generator.Shape) -> dict[str, object]:
        nonlocal made
        made += 1
        if made == 50:
            raise KeyboardInterrupt
        return real_line(rng, n, shape)

    monkeypatch.setattr(generator, "_line", line_then_stop)
    with pytest.raises(KeyboardInterrupt):
        generator.generate(target, 1_000, seed=1)
    assert target.read_bytes() == b"an older file\n"
    assert [path.name for path in tmp_path.iterdir()] == ["bench.jsonl"]
