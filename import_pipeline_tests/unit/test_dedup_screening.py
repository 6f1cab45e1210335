"""The step's screening must answer exactly what the pair-by-pair pre-check answers.

`worth_scoring_many` is the fast path the step takes for every new reference; if it
disagreed with `worth_scoring` on any pair, the step would score a different set of
candidates than the rules describe. Checked on every pair of real records (a truth set
with true duplicates among them), where both answers occur.
"""

import gzip

import orjson
import pytest

from import_pipeline.dedup.normalise import Evidence, evidence_from_content
from import_pipeline.dedup.scoring import score_pair, worth_scoring
from import_pipeline.dedup.screening import screen_of, worth_scoring_many
from import_pipeline.dedup.vocabulary import DuplicateDetermination
from import_pipeline_tests.data_files import real_file

SAMPLE = 400


def _evidence(line: dict) -> Evidence:
    content = next(
        (
            e["content"]
            for e in line["enhancements"]
            if e["content"]["enhancement_type"] == "bibliographic"
        ),
        {},
    )
    doi = next(
        (i["identifier"].lower() for i in line["identifiers"] if i["identifier_type"] == "doi"),
        None,
    )
    return evidence_from_content(content, doi)


@pytest.fixture(scope="module")
def records() -> list[Evidence]:
    """The first records of a truth set with duplicates, as evidence."""
    with gzip.open(real_file("bib_dedupe_digital_work.jsonl.gz"), "rb") as handle:
        return [
            _evidence(orjson.loads(text)) for _, text in zip(range(SAMPLE), handle, strict=False)
        ]


def test_screening_many_agrees_with_the_pre_check_pair_by_pair(records):
    screens = [screen_of(evidence) for evidence in records]
    answers = {True: 0, False: 0}
    for new in records:
        expected = [worth_scoring(new, existing) for existing in records]
        assert worth_scoring_many(new, screens) == expected
        for answer in expected:
            answers[answer] += 1
    # Both answers occur beyond each record against itself, so the check tells them apart.
    assert answers[True] > len(records)
    assert answers[False] > len(records)


def test_screening_without_candidates_or_titles():
    untitled = evidence_from_content({"publication_year": 2020})
    assert worth_scoring_many(untitled, []) == []
    assert worth_scoring_many(untitled, [screen_of(untitled)]) == [False]


def test_a_pair_left_out_by_the_pre_check_is_one_the_scoring_tells_apart(records):
    """The pre-check's promise, on every pair of real records: it drops only canonical pairs."""
    dropped = 0
    for new in records:
        for existing in records:
            if not worth_scoring(new, existing):
                dropped += 1
                assert score_pair(new, existing).determination is DuplicateDetermination.CANONICAL
    assert dropped > len(records)
