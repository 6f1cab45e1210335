"""Blocking keys and pairwise scoring, each veto on its own, with real-looking pairs.

The pairs are modelled on the truth sets: true duplicates as two databases export one
paper, and hard non-duplicates (a series in parts, the same title in two years, two
papers on one journal page, a conference version) that must never be merged.
"""

import dataclasses

import pytest

from import_pipeline.dedup.blocking import index_keys, probe_keys
from import_pipeline.dedup.normalise import (
    Evidence,
    evidence_from_content,
    normalise_text,
    part_numbers,
    title_numbers,
)
from import_pipeline.dedup.scoring import contradictions, score_pair
from import_pipeline.dedup.vocabulary import DuplicateDetermination

DUPLICATE = DuplicateDetermination.DUPLICATE
CANONICAL = DuplicateDetermination.CANONICAL
UNRESOLVED = DuplicateDetermination.UNRESOLVED


def evidence(
    title,
    authors=(),
    year=None,
    venue=None,
    volume=None,
    issue=None,
    pages=(None, None),
    doi=None,
    venue_type="journal",
):
    content = {
        "title": title,
        "authorship": [{"display_name": name, "position": "middle"} for name in authors],
        "publication_year": year,
        "pagination": {
            "volume": volume,
            "issue": issue,
            "first_page": pages[0],
            "last_page": pages[1],
        },
        "publication_venue": {"display_name": venue, "venue_type": venue_type},
    }
    return evidence_from_content(content, doi)


# Line 1 of bib_dedupe_stroke and its duplicate, line 2 (MEDLINE and Embase style).
ZHAI_EMBASE = evidence(
    "Efficacy observation of batroxobin for treatment of vascular cognitive impairment. [Chinese]",
    ["Q. J. Zhai", "X. Y. Yue", "Z. Hong", "G. L. Xu", "X. F. Liu"],
    2010,
    "Chinese Journal of Cerebrovascular Diseases",
    "7",
    "2",
    ("73", "76"),
)
ZHAI_MEDLINE = evidence(
    "Efficacy observation of batroxobin for treatment of vascular cognitive impairment",
    ["Zhai QJ", "Yue XY", "Hong Z", "Xu GL", "Liu XF"],
    2010,
    "Zhongguo Naoxueguan Bing Zazhi",
    "7",
    None,
    ("73", "6"),
)
HERS = evidence(
    "Cardiovascular disease outcomes during 6.8 years of hormone therapy: HERS II, part I",
    ["Stephen Hulley", "Curt Furberg", "Elizabeth Barrett-Connor"],
    2002,
    "JAMA",
    "288",
    "1",
    ("49", "57"),
    doi="10.1001/jama.288.1.49",
)


def replace(base: Evidence, **changes) -> Evidence:
    return dataclasses.replace(base, **changes)


def retitled(base: Evidence, title: str) -> Evidence:
    """`base` under another title, its numbers worked out as for any title."""
    normalised = normalise_text(title)
    return replace(
        base,
        title=normalised,
        title_numbers=title_numbers(normalised),
        part_numbers=part_numbers(normalised),
    )


def test_blocking_keys_of_a_reference():
    keys = index_keys(HERS)
    assert "doi:10.1001/jama.288.1.49" in keys
    assert "title:cardiovasculardiseaseoutc" in keys  # 25 characters, spaces removed
    assert "year-author:2002:hulley" in keys
    assert "year-volume-page:2002:288:49" in keys
    assert len(keys) == 4


def test_probe_keys_reach_the_neighbouring_years():
    online_first = replace(HERS, year=2003, doi=None)
    assert "year-author:2002:hulley" in probe_keys(online_first)
    assert probe_keys(online_first) & index_keys(HERS)
    assert not probe_keys(replace(HERS, year=2005, doi=None, title="x")) & index_keys(HERS)


def test_no_key_from_missing_or_generic_evidence():
    assert index_keys(evidence("Reply")) == frozenset()  # too short for a title key
    assert index_keys(evidence("")) == frozenset()
    assert probe_keys(evidence("", ["A. Author"])) == frozenset()  # no year: no author key


def test_two_exports_of_one_paper_share_keys_and_are_duplicates():
    assert probe_keys(ZHAI_MEDLINE) & index_keys(ZHAI_EMBASE)
    decision = score_pair(ZHAI_MEDLINE, ZHAI_EMBASE)
    assert decision.determination is DUPLICATE
    assert decision.evidence["rule"] == "title_authors"
    assert decision.evidence["title_similarity"] == 1.0
    assert decision.score > 0.9


def test_a_dropped_doi_and_a_swapped_author_order_still_match():
    other = replace(HERS, doi=None, authors=tuple(reversed(HERS.authors)))
    assert score_pair(other, HERS).determination is DUPLICATE


def test_a_translated_title_matches_by_place_and_authors():
    # bib_dedupe_respiratory lines 88/89: the same article under two translated titles.
    french = evidence(
        "Antibiotic prophylaxis in pulmonary surgery: amoxicillin versus cefamandole",
        ["Train M", "Soulard D", "Bouyer L"],
        1994,
        "Ann Fr Anesth Reanim",
        "13",
        "3",
        ("280", "284"),
    )
    english = replace(
        french,
        title="comparison of amoxicillin and cefamandole in the prevention of bronchopulmonary infections",
    )
    decision = score_pair(english, french)
    assert decision.determination is DUPLICATE
    assert decision.evidence["rule"] == "place_authors"
    # A journal that paginates each issue anew: the same place in another issue is not enough.
    assert score_pair(replace(english, issue="4"), french).determination is not DUPLICATE


@pytest.mark.parametrize(
    ("change", "veto"),
    [
        ({"doi": "10.1001/jama.288.1.58"}, "doi"),
        ({"year": 2004}, "year"),
        ({"first_page": "58", "last_page": "66"}, "pages"),
        ({"last_page": "60"}, "pages"),
        ({"volume": "289"}, "volume"),
        ({"issue": "2", "first_page": None}, "issue"),
        ({"venue_type": "conference"}, "venue_type"),
        ({"title": HERS.title + "i"}, "title_numbers"),
        ({"title": HERS.title.removesuffix(" part i")}, "title_numbers"),
    ],
)
def test_each_veto_stops_a_duplicate_of_the_same_title_and_authors(change, veto):
    other = replace(HERS, **change)
    if "title" in change:
        other = retitled(other, change["title"])
    assert veto in contradictions(other, HERS)
    assert score_pair(other, HERS).determination is not DUPLICATE


def test_agreeing_fields_are_no_contradiction():
    assert contradictions(HERS, HERS) == ()
    # Unknown on one side is no contradiction; nor a different issue where pages agree.
    assert contradictions(replace(HERS, doi=None, volume=None, issue="1-2"), HERS) == ()
    # A last page without a first page (an export's broken range) is not compared.
    assert contradictions(replace(HERS, first_page=None, last_page="9"), HERS) == ()


def test_part_one_and_part_two_are_two_papers():
    part_two = retitled(replace(HERS, doi=None, first_page=None, last_page=None), HERS.title + "i")
    assert (part_two.title_numbers, part_two.part_numbers) == ((6, 8, 2, 2), (2,))
    decision = score_pair(part_two, HERS)
    assert decision.determination is CANONICAL  # numbers tell two works apart: not "ask a person"
    assert decision.evidence["contradictions"] == ["title_numbers"]


def test_the_same_title_in_two_years_is_two_papers():
    # An annual editorial or minitrack introduction: the same title and authors each year.
    intro_2021 = evidence(
        "Introduction to the minitrack on digital work", ["X. Deng", "J. Taylor"], 2021, "HICSS"
    )
    intro_2023 = replace(intro_2021, year=2023)
    assert score_pair(intro_2023, intro_2021).determination is CANONICAL
    next_issue = replace(intro_2021, issue="2")
    assert score_pair(next_issue, replace(intro_2021, issue="1")).determination is not DUPLICATE


def test_same_title_and_authors_with_a_clerical_contradiction_is_unresolved():
    erratum = replace(HERS, doi=None, first_page="1020", last_page="1020")
    decision = score_pair(erratum, HERS)
    assert decision.determination is UNRESOLVED
    assert decision.evidence["contradictions"] == ["pages"]


def test_similar_titles_of_different_authors_are_not_duplicates():
    other = replace(
        HERS, authors=("smith", "jones"), doi=None, volume=None, first_page=None, last_page=None
    )
    assert score_pair(other, HERS).determination is CANONICAL


def test_a_same_title_without_any_other_evidence_is_unresolved():
    bare = evidence(HERS.title)
    assert score_pair(bare, HERS).determination is UNRESOLVED
    assert score_pair(bare, HERS).evidence["rule"] == "title_only"


def test_a_title_with_an_appended_citation_matches_by_place():
    # bib_dedupe_haematology 72/73: one export appends the citation to the title.
    letter = evidence(
        "More on eculizumab for congenital atypical hemolytic-uremic syndrome",
        ["Shin JI", "Lee JS"],
        2009,
        "N Engl J Med",
        "360",
        "20",
        ("2142", "2143"),
    )
    cited = retitled(letter, letter.title + " N Engl J Med 2009 Jan 29;360(5):544-6")
    decision = score_pair(cited, letter)
    assert decision.determination is DUPLICATE
    assert decision.evidence["rule"] == "title_place"
