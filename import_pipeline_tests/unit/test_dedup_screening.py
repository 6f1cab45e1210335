"""The step's screening must answer exactly what the pair-by-pair pre-check answers.

`KeyScreens.worthy` is the fast path the step takes for every new reference and key; if
it disagreed with `worth_scoring` on any pair, the step would score a different set of
candidates than the rules describe. Checked on every pair of real records (a truth set
with true duplicates among them), where both answers occur, over whole keys and over
their older parts.
"""

import gzip

import orjson
import pytest

from import_pipeline.dedup.normalise import Evidence, evidence_from_content
from import_pipeline.dedup.scoring import score_pair, worth_scoring
from import_pipeline.dedup.screening import KeyScreens, screen_of
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


def test_screening_a_key_agrees_with_the_pre_check_pair_by_pair(records):
    ids = [10 * position for position in range(len(records))]  # ascending, not positions
    key = KeyScreens.of(ids, [screen_of(evidence) for evidence in records])
    answers = {True: 0, False: 0}
    for position, new in enumerate(records):
        expected = [ids[p] for p, existing in enumerate(records) if worth_scoring(new, existing)]
        assert sorted(key.worthy(new, len(records))) == expected
        # Only the first `before` references of the key: the ones older than `new`.
        older = [ref for ref in expected if ref < ids[position]]
        assert sorted(key.worthy(new, position)) == older
        answers[True] += len(expected)
        answers[False] += len(records) - len(expected)
    # Both answers occur beyond each record against itself, so the check tells them apart.
    assert answers[True] > len(records)
    assert answers[False] > len(records)


def test_screening_without_candidates_or_titles():
    untitled = evidence_from_content({"publication_year": 2020})
    assert KeyScreens.of([], []).worthy(untitled, 0) == set()
    assert KeyScreens.of([1], [screen_of(untitled)]).worthy(untitled, 1) == set()


def test_a_candidate_is_worthy_by_each_reason_it_has():
    """Same DOI, same place and a similar title each make a pair worth scoring."""
    new = evidence_from_content(
        {
            "title": "Aspirin after stroke: a randomised trial",
            "pagination": {"volume": "12", "first_page": "100"},
        },
        doi="10.1/a",
    )
    by_doi = evidence_from_content({"title": "Something else entirely"}, doi="10.1/a")
    by_place = evidence_from_content(
        {"title": "Another paper", "pagination": {"volume": "12", "first_page": "100"}}
    )
    by_title = evidence_from_content({"title": "Aspirin after stroke: a randomized trial"})
    unrelated = evidence_from_content({"title": "Statins in the elderly"}, doi="10.1/b")
    # 0.82 alike: a word apart, below TITLE_SIMILAR, and nothing else shared.
    near = evidence_from_content({"title": "Aspirin after stroke: a pilot trial"})
    screens = [screen_of(e) for e in (by_doi, by_place, by_title, unrelated, near)]
    key = KeyScreens.of([1, 2, 3, 4, 5], screens)
    assert sorted(key.worthy(new, 5)) == [1, 2, 3]
    assert sorted(key.worthy(new, 2)) == [1, 2]
    assert [worth_scoring(new, e) for e in (by_doi, by_place, by_title, unrelated, near)] == [
        True,
        True,
        True,
        False,
        False,
    ]


def test_a_pair_left_out_by_the_pre_check_is_one_the_scoring_tells_apart(records):
    """The pre-check's promise, on every pair of real records: it drops only canonical pairs."""
    dropped = 0
    for new in records:
        for existing in records:
            if not worth_scoring(new, existing):
                dropped += 1
                assert score_pair(new, existing).determination is DuplicateDetermination.CANONICAL
    assert dropped > len(records)
