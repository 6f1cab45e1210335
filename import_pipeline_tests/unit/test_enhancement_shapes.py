"""The typed fast path of enhancement validation answers exactly as the field checks do.

`enhancement_shapes` checks the commonest enhancements' types in C and `enhancements`
then applies what a type cannot say; anything it is unsure of goes to the field checks.
So over real enhancements and thousands of seeded mutations of them (wrong types, nulls,
blank strings, bad dates, unknown keys and enum values, deep nesting, other content
types), validation with the fast path must give the same enhancement or the same error
as the field checks alone.
"""

import copy
import gzip
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from import_pipeline.domain import enhancement_shapes
from import_pipeline.domain.enhancements import (
    ENHANCEMENT_TYPES,
    Enhancement,
    InvalidEnhancementError,
    validate_enhancement,
)
from import_pipeline.domain.limits import MAX_JSON_DEPTH

REAL = Path(__file__).parents[1] / "data" / "real"


def _real_enhancements(per_file: int = 60) -> list[dict[str, Any]]:
    found = []
    for path in sorted(REAL.glob("*.jsonl.gz")):
        taken = 0
        with gzip.open(path, "rb") as lines:
            for line in lines:
                for enhancement in orjson.loads(line).get("enhancements") or []:
                    found.append(enhancement)
                    taken += 1
                if taken >= per_file:
                    break
    return found


def _nested(levels: int) -> object:
    value: object = "bottom"
    for _ in range(levels):
        value = [value]
    return value


_VALUES: list[object] = [
    None,
    True,
    False,
    0,
    7,
    -1,
    1.5,
    2.0,
    2**63,
    -(2**63) - 1,
    "",
    "   ",
    "x",
    "first",
    "other",
    "journal",
    "2020-01-31",
    "2020-02-30",
    "2020-01-31T10:00:00Z",
    "not a date",
    [],
    ["x"],
    [1],
    {},
    {"display_name": "A. Person", "position": "last"},
    {"a": 1},
    _nested(MAX_JSON_DEPTH + 2),
]


_FIELD_NAMES = [
    "source",
    "visibility",
    "processor_version",
    "robot_version",
    "title",
    "publisher",
    "publication_year",
    "cited_by_count",
    "created_date",
    "updated_date",
    "publication_date",
    "authorship",
    "display_name",
    "position",
    "orcid",
    "pagination",
    "volume",
    "first_page",
    "publication_venue",
    "venue_type",
    "issn",
    "process",
    "abstract",
    "extra",
]


def _containers(value: object, path: tuple = ()) -> list[tuple[tuple, object]]:
    """Every (path, container) inside `value`, itself included."""
    found = []
    if isinstance(value, dict | list):
        found.append((path, value))
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            found.extend(_containers(child, (*path, key)))
    return found


def _mutated(enhancement: dict[str, Any], chance: random.Random) -> dict[str, Any]:
    """`enhancement` with one to three random changes somewhere inside it."""
    mutant = copy.deepcopy(enhancement)
    for _ in range(chance.randint(1, 3)):
        _, container = chance.choice(_containers(mutant))
        action = chance.random()
        if isinstance(container, dict):
            keys = list(container)
            if action < 0.15 and keys:
                del container[chance.choice(keys)]
            elif action < 0.45:
                container[chance.choice(_FIELD_NAMES)] = copy.deepcopy(chance.choice(_VALUES))
            elif action < 0.55 and "enhancement_type" in container:
                container["enhancement_type"] = chance.choice([*ENHANCEMENT_TYPES, "tombstone"])
            elif keys:
                container[chance.choice(keys)] = copy.deepcopy(chance.choice(_VALUES))
        elif isinstance(container, list):
            if action < 0.2 and container:
                container.pop(chance.randrange(len(container)))
            elif container:
                container[chance.randrange(len(container))] = copy.deepcopy(chance.choice(_VALUES))
            else:
                container.append(copy.deepcopy(chance.choice(_VALUES)))
    return mutant


def _answer(raw: object) -> Enhancement | str:
    try:
        return validate_enhancement(raw, may_hold_nul=False)
    except InvalidEnhancementError as error:
        return f"error: {error}"


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    real = _real_enhancements()
    chance = random.Random(20261201)
    return real + [_mutated(chance.choice(real), chance) for _ in range(6000)]


def test_the_fast_path_answers_as_the_field_checks_do(cases, monkeypatch):
    fast = [_answer(raw) for raw in cases]
    shaped = sum(enhancement_shapes.has_shape(raw) for raw in cases)
    monkeypatch.setattr(enhancement_shapes, "has_shape", lambda raw: False)
    fields_only = [_answer(raw) for raw in cases]
    differing = [
        (raw, one, other)
        for raw, one, other in zip(cases, fast, fields_only, strict=True)
        if one != other
    ]
    assert differing == []
    # The comparison means something: both paths were taken, and both kinds of answer.
    assert 500 < shaped < len(cases) - 1000
    assert sum(isinstance(answer, str) for answer in fields_only) > 1000


def test_the_real_enhancements_of_the_common_types_take_the_fast_path():
    real = _real_enhancements()
    common = [
        raw for raw in real if raw["content"]["enhancement_type"] in {"bibliographic", "abstract"}
    ]
    assert common
    assert all(enhancement_shapes.has_shape(raw) for raw in common)
    assert not any(
        enhancement_shapes.has_shape(raw)
        for raw in real
        if raw["content"]["enhancement_type"] not in {"bibliographic", "abstract"}
    )
