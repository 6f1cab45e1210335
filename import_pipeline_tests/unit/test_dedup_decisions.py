"""A new reference decided against its candidates, and spec section 3's shared-identifier rule.

The candidates come from the in-memory blocking index, as the quality benchmark uses it;
the pairs with a shared PubMed id are SYNERGY's (Nelson_2002 lines 52/152, Meijboom_2021
lines 247/662).
"""

import dataclasses
import uuid

from import_pipeline.dedup.candidates import InMemoryCandidateIndex
from import_pipeline.dedup.decisions import Candidate, contradicts_shared_identifier, decide
from import_pipeline.dedup.normalise import evidence_from_content
from import_pipeline.dedup.vocabulary import DuplicateDetermination


def evidence(title, authors=(), year=None, volume=None, issue=None, pages=(None, None), doi=None):
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
        "publication_venue": {"display_name": "JAMA", "venue_type": "journal"},
    }
    return evidence_from_content(content, doi)


HERS_AUTHORS = ["Stephen Hulley", "Curt Furberg", "Elizabeth Barrett-Connor", "Jane Cauley"]
CARDIO = evidence(
    "Cardiovascular disease outcomes during 6.8 years of hormone therapy",
    HERS_AUTHORS,
    2002,
    "288",
    "1",
    ("49", "57"),
    doi="10.1001/jama.288.1.49",
)
NONCARDIO = evidence(
    "Noncardiovascular disease outcomes during 6.8 years of hormone therapy",
    HERS_AUTHORS,
    2002,
    "288",
    "1",
    ("58", "66"),
    doi="10.1001/jama.288.1.58",
)
BIOSIMILAR = evidence(
    "Evaluating efficacy, safety and pharmacokinetics after switching from infliximab originator to biosimilar CT-P13",
    ["Sophie Bronswijk", "Annick Moens", "Marc Ferrante"],
    2019,
    doi="10.1093/ibd/izz271",
)
REF_A, REF_B, REF_C = (uuid.UUID(int=n) for n in (1, 2, 3))


def test_no_candidate_makes_a_canonical_reference():
    decision = decide(CARDIO, [])
    assert decision.determination is DuplicateDetermination.CANONICAL
    assert decision.duplicate_of is None


def test_a_duplicate_points_at_the_canonical_reference_of_its_match():
    index = InMemoryCandidateIndex()
    index.add(REF_A, REF_A, CARDIO)
    index.add(REF_B, REF_A, dataclasses.replace(CARDIO, doi=None))  # B was decided a duplicate of A
    new = dataclasses.replace(CARDIO, doi=None, title=CARDIO.title + " hers")
    candidates = index.candidates(new)
    assert [c.reference_id for c in candidates] == [REF_A, REF_B]
    decision = decide(new, candidates)
    assert decision.determination is DuplicateDetermination.DUPLICATE
    assert decision.duplicate_of == REF_A
    assert decision.evidence["rule"] == "title_authors"
    assert 0 < decision.score <= 1


def test_a_companion_paper_on_the_next_pages_is_canonical():
    decision = decide(NONCARDIO, [Candidate(REF_A, REF_A, CARDIO)])
    assert decision.determination is DuplicateDetermination.CANONICAL
    assert decision.evidence == {"candidates_scored": 1}


def test_a_match_contradicted_by_its_own_group_is_unresolved():
    erratum = dataclasses.replace(CARDIO, doi=None, first_page="1020", last_page="1020")
    new = dataclasses.replace(CARDIO, doi=None, first_page=None, last_page=None)
    decision = decide(new, [Candidate(REF_A, REF_A, erratum), Candidate(REF_B, REF_A, CARDIO)])
    # New matches B but contradicts A, B's canonical reference: a person should decide.
    assert (
        decide(new, [Candidate(REF_B, REF_B, CARDIO)]).determination
        is DuplicateDetermination.DUPLICATE
    )
    assert decision.determination is DuplicateDetermination.DUPLICATE  # A does not contradict new
    contradicting = dataclasses.replace(erratum, first_page="49", last_page="57", volume="289")
    decision = decide(
        new, [Candidate(REF_A, REF_A, contradicting), Candidate(REF_B, REF_A, CARDIO)]
    )
    assert decision.determination is DuplicateDetermination.UNRESOLVED
    assert decision.evidence["contradicted_by"] == [str(REF_A)]


def test_the_best_match_wins_and_other_groups_are_named():
    close = dataclasses.replace(CARDIO, doi=None)
    looser = dataclasses.replace(
        CARDIO, doi=None, volume=None, issue=None, first_page=None, last_page=None
    )
    decision = decide(close, [Candidate(REF_B, REF_B, looser), Candidate(REF_C, REF_C, CARDIO)])
    assert decision.duplicate_of == REF_C
    assert decision.evidence["other_groups_matched"] == [str(REF_B)]


def test_too_little_evidence_is_unresolved():
    decision = decide(evidence(""), [Candidate(REF_A, REF_A, CARDIO)])
    assert decision.determination is DuplicateDetermination.UNRESOLVED
    assert decision.evidence == {"reason": "no evidence"}


def test_a_pubmed_id_shared_by_two_papers_is_contested():
    # Nelson_2002: PMID 12090863 on two HERS II papers, different DOIs, titles and pages.
    assert contradicts_shared_identifier(NONCARDIO, CARDIO)
    # Meijboom_2021: PMID 30828891 on a 2015 study and its 2019 long-term follow-up.
    study = evidence(
        "Efficacy and safety of CT-P13 in inflammatory bowel disease",
        ["Jung"],
        2015,
        doi="10.1111/jgh.12997",
    )
    follow_up = evidence(
        "Long-term efficacy and safety of CT-P13 in inflammatory bowel disease",
        ["Kim"],
        2019,
        doi="10.1111/jgh.14645",
    )
    assert contradicts_shared_identifier(follow_up, study)


def test_a_shared_identifier_with_agreeing_evidence_merges():
    # Meijboom_2021: PMID 31648296 on two DOIs of one article (same title, authors, year).
    assert not contradicts_shared_identifier(
        dataclasses.replace(BIOSIMILAR, doi="10.1093/ibd/izz167"), BIOSIMILAR
    )
    assert not contradicts_shared_identifier(CARDIO, CARDIO)  # the same DOI
    assert not contradicts_shared_identifier(
        dataclasses.replace(NONCARDIO, doi=None), CARDIO
    )  # one DOI unknown
