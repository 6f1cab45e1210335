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
    "a/b",
    "inclusion",
    "boolean",
    "score",
    0.75,
    [],
    ["x"],
    [1],
    {},
    {"display_name": "A. Person", "position": "last"},
    {"a": 1},
    _nested(MAX_JSON_DEPTH + 2),
    {"deep": _nested(MAX_JSON_DEPTH - 4)},
    {"deep": _nested(MAX_JSON_DEPTH - 3)},
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
    "annotations",
    "annotation_type",
    "scheme",
    "label",
    "value",
    "score",
    "data",
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


def _places(enhancement: dict[str, Any]) -> list[tuple]:
    """Paths of the enhancement, its content and the first object of each list in it."""
    places: list[tuple] = [(), ("content",)]
    for key, value in enhancement["content"].items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            places.append(("content", key, 0))
    return places


def _with(enhancement: dict[str, Any], where: tuple, name: str, value: object) -> dict[str, Any]:
    """A copy of `enhancement` whose object at `where` has `name` set to `value`."""
    changed = copy.deepcopy(enhancement)
    target: Any = changed
    for key in where:
        target = target[key]
    target[name] = copy.deepcopy(value)
    return changed


def _answer(raw: object) -> Enhancement | str:
    try:
        return validate_enhancement(raw, may_hold_nul=False)
    except InvalidEnhancementError as error:
        return f"error: {error}"


@pytest.fixture(scope="module")
def cases() -> list[dict[str, Any]]:
    """Real enhancements, and mutations of them: each content type as often as the others."""
    real = _real_enhancements()
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for raw in real:
        by_kind.setdefault(raw["content"]["enhancement_type"], []).append(raw)
    chance = random.Random(20261201)
    kinds = sorted(by_kind)
    every_field = [
        _with(by_kind[kind][0], where, name, value)
        for kind in kinds
        for where in _places(by_kind[kind][0])
        for name in _FIELD_NAMES
        for value in _VALUES
    ]
    return (
        real
        + every_field
        + [_mutated(chance.choice(by_kind[chance.choice(kinds)]), chance) for _ in range(8000)]
    )


def test_the_fast_path_answers_as_the_field_checks_do(cases, monkeypatch):
    fast = [_answer(raw) for raw in cases]
    shaped = sum(enhancement_shapes.fits(raw) for raw in cases)
    monkeypatch.setattr(enhancement_shapes, "fits", lambda raw: False)
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


_SHAPED = {"bibliographic", "abstract", "annotation"}


def test_the_real_enhancements_of_the_common_types_take_the_fast_path():
    real = _real_enhancements(per_file=400)
    kinds = {raw["content"]["enhancement_type"] for raw in real}
    assert kinds > _SHAPED  # and others, which take the field checks
    assert all(
        enhancement_shapes.fits(raw) == (raw["content"]["enhancement_type"] in _SHAPED)
        for raw in real
    )
