"""Seeded generator of realistic DESTINY `ReferenceFileInput` lines for benchmarks.

A `Shape` says what the lines look like; three are named (`SHAPES`):
- `default`: 1-3 identifiers (DOI, PubMed id, OpenAlex id), a bibliographic enhancement
  with 1-8 authors and an abstract of 800-2,000 characters, about 2 KB a line; about 3%
  of the lines repeat an earlier line (exact duplicates) and about 1% are malformed (not
  JSON, an unknown field, or no valid identifier);
- `sparse`: one identifier, an abstract on a third of the lines (200-800 characters), 1%
  duplicates, 0.3% malformed: a search export of titles, about 0.8 KB a line;
- `rich`: 2-3 identifiers, an abstract of 1,500-4,000 characters and two annotation
  enhancements on every line, 8% duplicates, 2% malformed: about 4 KB a line.
The same seed and shape give the same file; the default shape gives the files of
earlier sessions byte for byte.

    uv run python -m benchmarks.generate --lines 100000 --out benchmarks/out/100k.jsonl
    uv run python -m benchmarks.generate --lines 100000 --shape rich --out rich.jsonl
"""

import argparse
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import orjson

WORDS = [
    "trial",
    "randomised",
    "cohort",
    "outcome",
    "patients",
    "intervention",
    "control",
    "effect",
    "analysis",
    "review",
    "systematic",
    "meta",
    "evidence",
    "treatment",
    "risk",
    "association",
    "clinical",
    "study",
    "health",
    "care",
    "data",
    "model",
    "results",
    "methods",
    "background",
    "conclusion",
    "significant",
    "reduction",
    "increase",
    "mortality",
    "quality",
    "primary",
    "secondary",
    "follow-up",
    "baseline",
    "population",
    "sample",
    "measure",
    "assessment",
]
SURNAMES = [
    "Smith",
    "Jones",
    "Garcia",
    "Müller",
    "Rossi",
    "Tanaka",
    "Okafor",
    "Nguyen",
    "Kowalski",
    "Silva",
    "Dubois",
    "Chen",
]


@dataclass(frozen=True)
class Shape:
    """What generated lines look like: their parts, sizes and shares of special lines."""

    identifiers: tuple[int, int] = (1, 3)
    """How many identifiers a line has, from..to (of DOI, PubMed id, OpenAlex id)."""
    abstract_chars: tuple[int, int] = (800, 2_000)
    abstract_share: float = 1.0
    """The share of lines with an abstract enhancement."""
    annotations: int = 0
    """Annotation enhancements on every line, besides the bibliographic one."""
    duplicates: float = 0.03
    """The share of lines that repeat an earlier line."""
    malformed: float = 0.01
    """The share of malformed lines."""


SHAPES = {
    "default": Shape(),
    "sparse": Shape(
        identifiers=(1, 1),
        abstract_chars=(200, 800),
        abstract_share=1 / 3,
        duplicates=0.01,
        malformed=0.003,
    ),
    "rich": Shape(
        identifiers=(2, 3),
        abstract_chars=(1_500, 4_000),
        annotations=2,
        duplicates=0.08,
        malformed=0.02,
    ),
}


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _abstract(rng: random.Random, chars: tuple[int, int]) -> str:
    target = rng.randint(*chars)
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(_sentence(rng, rng.randint(8, 20)))
    return " ".join(parts)[:target]


def _identifiers(rng: random.Random, n: int, count: tuple[int, int]) -> list[dict[str, object]]:
    kinds = rng.sample(["doi", "pm_id", "open_alex"], rng.randint(*count))
    values = {
        "doi": f"10.{rng.randint(1000, 99999)}/bench.{n}",
        "pm_id": 10_000_000 + n,
        "open_alex": f"W{3_000_000_000 + n}",
    }
    return [{"identifier_type": kind, "identifier": values[kind]} for kind in kinds]


def _annotation(rng: random.Random, label: str) -> dict[str, object]:
    return {
        "source": "benchmark",
        "visibility": "public",
        "content": {
            "enhancement_type": "annotation",
            "annotations": [
                {
                    "annotation_type": "boolean",
                    "scheme": f"benchmark:{label}",
                    "label": label,
                    "value": rng.random() < 0.5,
                }
            ],
        },
    }


def _line(rng: random.Random, n: int, shape: Shape) -> dict[str, object]:
    authors = rng.randint(1, 8)
    authorship = [
        {
            "display_name": f"{rng.choice('ABCDEFGHJKLMNPRS')}. {rng.choice(SURNAMES)}",
            "position": "first" if i == 0 else ("last" if i == authors - 1 else "middle"),
        }
        for i in range(authors)
    ]
    identifiers = _identifiers(rng, n, shape.identifiers)  # drawn in this order: see SHAPES
    enhancements: list[dict[str, object]] = [
        {
            "source": "benchmark",
            "visibility": "public",
            "content": {
                "enhancement_type": "bibliographic",
                "title": _sentence(rng, rng.randint(6, 16)),
                "authorship": authorship,
                "publication_year": rng.randint(1980, 2025),
                "publisher": f"{rng.choice(SURNAMES)} Press",
                "pagination": {
                    "volume": str(rng.randint(1, 90)),
                    "first_page": str(rng.randint(1, 900)),
                },
            },
        }
    ]
    # The default shape draws no number for these: its files stay as they were.
    if shape.abstract_share >= 1 or rng.random() < shape.abstract_share:
        enhancements.append(
            {
                "source": "benchmark",
                "visibility": "public",
                "content": {
                    "enhancement_type": "abstract",
                    "process": "other",
                    "abstract": _abstract(rng, shape.abstract_chars),
                },
            }
        )
    enhancements += [_annotation(rng, f"label{i}") for i in range(shape.annotations)]
    return {
        "visibility": "public",
        "identifiers": identifiers,
        "enhancements": enhancements,
    }


_MALFORMED = (
    b'{"identifiers": [{"identifier_type": "doi", "identifier": "10.1000/x"}], "colour": 1}',
    b'{"identifiers": [{"identifier_type": "doi", "identifier": "not-a-doi"}]}',
    b"this line is not JSON",
)


def generate(
    path: Path, lines: int, seed: int = 42, shape: Shape | str = "default", first: int = 1
) -> Path:
    """Write `lines` lines of `shape` to `path` (deterministic for a seed); return the path.

    Identifiers are numbered from `first`, so that files generated with different
    `first` share none (the deduplication timing imports new references that way).
    The lines go to a temporary file beside `path`, renamed to it once complete: the
    benchmark reuses a file it finds, and a run stopped half way must leave none.
    """
    shape = SHAPES[shape] if isinstance(shape, str) else shape
    rng = random.Random(seed)  # noqa: S311 (test data, not crypto)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        dir=path.parent, prefix=f".{path.name}.", suffix=".partial", delete=False
    ) as out:
        partial = Path(out.name)
        try:
            _write_lines(out, rng, range(first, first + lines), shape)
        except BaseException:
            out.close()
            partial.unlink()
            raise
    partial.replace(path)
    return path


def _write_lines(out: IO[bytes], rng: random.Random, numbers: range, shape: Shape) -> None:
    """Write the lines numbered `numbers` to `out`, drawing from `rng`."""
    earlier: list[bytes] = []
    for n in numbers:
        roll = rng.random()
        if roll < shape.malformed:
            text = rng.choice(_MALFORMED)
        elif roll < shape.malformed + shape.duplicates and earlier:
            text = rng.choice(earlier)
        else:
            text = orjson.dumps(_line(rng, n, shape))
            if len(earlier) < 10_000:
                earlier.append(text)
            elif rng.random() < 0.1:
                earlier[rng.randrange(len(earlier))] = text
        out.write(text + b"\n")


def main() -> None:
    """Command line: write one file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="default")
    args = parser.parse_args()
    generate(args.out, args.lines, args.seed, args.shape)


if __name__ == "__main__":
    main()
