"""Seeded generator of realistic DESTINY `ReferenceFileInput` lines for benchmarks.

Each line: 1-3 identifiers (DOI, PubMed id, OpenAlex id), a bibliographic enhancement with
1-8 authors, and an abstract of 800-2,000 characters, about 2 KB in all. About 3% of the
lines repeat an earlier line's identifiers (exact duplicates) and about 1% are malformed
(not JSON, an unknown field, or no valid identifier). The same seed gives the same file.

    uv run python -m benchmarks.generate --lines 100000 --out benchmarks/out/100k.jsonl
"""

import argparse
import random
from pathlib import Path

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


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _abstract(rng: random.Random) -> str:
    target = rng.randint(800, 2000)
    parts: list[str] = []
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(_sentence(rng, rng.randint(8, 20)))
    return " ".join(parts)[:target]


def _identifiers(rng: random.Random, n: int) -> list[dict[str, object]]:
    kinds = rng.sample(["doi", "pm_id", "open_alex"], rng.randint(1, 3))
    values = {
        "doi": f"10.{rng.randint(1000, 99999)}/bench.{n}",
        "pm_id": 10_000_000 + n,
        "open_alex": f"W{3_000_000_000 + n}",
    }
    return [{"identifier_type": kind, "identifier": values[kind]} for kind in kinds]


def _line(rng: random.Random, n: int) -> dict[str, object]:
    authors = rng.randint(1, 8)
    authorship = [
        {
            "display_name": f"{rng.choice('ABCDEFGHJKLMNPRS')}. {rng.choice(SURNAMES)}",
            "position": "first" if i == 0 else ("last" if i == authors - 1 else "middle"),
        }
        for i in range(authors)
    ]
    return {
        "visibility": "public",
        "identifiers": _identifiers(rng, n),
        "enhancements": [
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
            },
            {
                "source": "benchmark",
                "visibility": "public",
                "content": {
                    "enhancement_type": "abstract",
                    "process": "other",
                    "abstract": _abstract(rng),
                },
            },
        ],
    }


_MALFORMED = (
    b'{"identifiers": [{"identifier_type": "doi", "identifier": "10.1000/x"}], "colour": 1}',
    b'{"identifiers": [{"identifier_type": "doi", "identifier": "not-a-doi"}]}',
    b"this line is not JSON",
)


def generate(path: Path, lines: int, seed: int = 42, first: int = 1) -> Path:
    """Write `lines` lines to `path` (deterministic for a seed) and return the path.

    Identifiers are numbered from `first`, so that files generated with different
    `first` share none (the deduplication timing imports new references that way).
    """
    rng = random.Random(seed)  # noqa: S311 (test data, not crypto)
    path.parent.mkdir(parents=True, exist_ok=True)
    earlier: list[bytes] = []
    with path.open("wb") as out:
        for n in range(first, first + lines):
            roll = rng.random()
            if roll < 0.01:
                text = rng.choice(_MALFORMED)
            elif roll < 0.04 and earlier:
                text = rng.choice(earlier)
            else:
                text = orjson.dumps(_line(rng, n))
                if len(earlier) < 10_000:
                    earlier.append(text)
                elif rng.random() < 0.1:
                    earlier[rng.randrange(len(earlier))] = text
            out.write(text + b"\n")
    return path


def main() -> None:
    """Command line: write one file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    generate(args.out, args.lines, args.seed)


if __name__ == "__main__":
    main()
