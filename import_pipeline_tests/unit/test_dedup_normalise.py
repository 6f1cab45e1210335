"""Normalisation of bibliographic evidence: two exports of one paper must come out equal.

Each case is a spelling difference seen in the truth sets (case, accents, "[Chinese]"
tags, MEDLINE's bracketed translated titles, "Surname FM" authors, "Suppl" pages).
"""

import orjson
import pytest

from import_pipeline.dedup.normalise import (
    evidence_from_content,
    evidence_of_line,
    full_last_page,
    normalise_text,
    page,
    part_numbers,
    surname,
    title_numbers,
    volume_or_issue,
)
from import_pipeline.domain.parsing import parse_line


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("Efficacy of Batroxobin: A Trial.", "efficacy of batroxobin a trial"),
        ("Café  crème — São Paulo", "cafe creme sao paulo"),
        ("Efficacy observation of batroxobin. [Chinese]", "efficacy observation of batroxobin"),
        ("Risk in practice [erratum appears in Lancet Oncol 201", "risk in practice"),
        (
            "[A study on the use of mycobacterium vaccine].",
            "a study on the use of mycobacterium vaccine",
        ),
        ("<i>In vivo</i> imaging", "in vivo imaging"),
        ("ЗАЙНЯТІСТЬ І МОТИВАЦІЯ", "заинятість і мотивація"),  # noqa: RUF001 (Ukrainian on purpose)
        ("", ""),
        (None, ""),
    ],
)
def test_normalise_text(raw, normalised):
    assert normalise_text(raw) == normalised


@pytest.mark.parametrize(
    ("title", "numbers"),
    [
        ("hormone therapy part i", (1,)),
        ("hers ii part ii", (2, 2)),
        ("type ii diabetes in 2 cohorts", (2, 2)),
        ("a phase iii trial of 120 patients", (3, 120)),
        ("p16ink4a expression", (16, 4)),
        ("what i learned from v and x", ()),  # a lone i, v, x is a word, not a number
        ("no numbers here", ()),
    ],
)
def test_title_numbers(title, numbers):
    assert title_numbers(title) == numbers


def test_part_numbers_are_those_naming_a_part_or_phase():
    assert part_numbers("hers ii part i") == (1,)
    assert part_numbers("a phase iii trial in 2 centres") == (3,)
    assert part_numbers("results of section 4 and chapter ii") == (4, 2)
    assert part_numbers("type ii diabetes in 2009") == ()


@pytest.mark.parametrize(
    ("display_name", "expected"),
    [
        ("Q. J. Zhai", "zhai"),
        ("Zhai Q.J.", "zhai"),
        ("Zhai QJ", "zhai"),
        ("Zhai, Qingjun", "zhai"),
        ("Jay F. Nunamaker Jr.", "nunamaker"),
        ("J. van der Berg", "vanderberg"),
        ("van der Berg, J.", "vanderberg"),
        ("V. Fremeaux-Bacchi", "fremeauxbacchi"),
        ("Fremeaux-Bacchi V", "fremeauxbacchi"),
        ("Lucia D\u2019Esposito", "desposito"),  # a typographic apostrophe
        ("Vuković", "vukovic"),
        ("   ", None),
    ],
)
def test_surname(display_name, expected):
    assert surname(display_name) == expected


def test_pages_volumes_and_issues():
    assert full_last_page("1234", "56") == "1256"
    assert full_last_page("s417", "29") == "s429"
    assert full_last_page("e123", "e130") == "e130"
    assert full_last_page(None, "29") == "29"
    assert page("Suppl") is None  # what a broken export left of "Suppl 1:S417-29"
    assert page("S417") == "s417"
    assert volume_or_issue("Pt 3") == volume_or_issue("3") == "3"
    assert volume_or_issue("Suppl") is None


def test_evidence_of_a_real_looking_line():
    line = {
        "visibility": "public",
        "identifiers": [
            {"identifier": "https://doi.org/10.1073/PNAS.1604234114", "identifier_type": "doi"},
            {"identifier": 12090863, "identifier_type": "pm_id"},
        ],
        "enhancements": [
            {
                "source": "test",
                "visibility": "public",
                "content": {
                    "enhancement_type": "bibliographic",
                    "authorship": [
                        {"display_name": "Paolo Parigi", "position": "middle"},
                        {"display_name": "Bruno Abrahão", "position": "first"},
                    ],
                    "publication_year": 2017,
                    "title": "Reputation offsets trust judgments: Part II [Spanish]",
                    "pagination": {
                        "volume": "114",
                        "issue": "37",
                        "first_page": "9848",
                        "last_page": "53",
                    },
                    "publication_venue": {
                        "display_name": "Proc. Natl. Acad. Sci.",
                        "venue_type": "journal",
                    },
                },
            }
        ],
    }
    evidence = evidence_of_line(parse_line(1, orjson.dumps(line)))
    assert evidence.title == "reputation offsets trust judgments part ii"
    assert evidence.title_numbers == (2,)
    assert evidence.authors == ("abrahao", "parigi")  # the first position first
    assert evidence.first_author == "abrahao"
    assert (evidence.year, evidence.volume, evidence.issue) == (2017, "114", "37")
    assert (evidence.first_page, evidence.last_page) == ("9848", "9853")
    assert evidence.venue == "proc natl acad sci"
    assert evidence.venue_type == "journal"
    assert evidence.doi == "10.1073/pnas.1604234114"  # canonical, as the identifiers keep it


def test_evidence_without_a_bibliographic_enhancement_is_empty():
    evidence = evidence_from_content({})
    assert (evidence.title, evidence.authors, evidence.year, evidence.doi) == ("", (), None, None)
    assert evidence.first_author is None
