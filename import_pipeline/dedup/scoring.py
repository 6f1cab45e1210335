"""Pairwise scoring: whether a new reference is a duplicate of one existing reference.

Two kinds of evidence, kept apart on purpose:

- **Contradictions** (`contradictions`) veto a duplicate whatever the similarity: known
  and different DOIs, years more than one apart, different pages, volumes, issues (when
  the first pages do not settle it), venue types, or numbers in the titles ("part I"
  against "part II"). One paper exported twice rarely disagrees on these; two papers
  that look alike (a series, a reprint, an erratum, a conference version) usually do.
- **Agreement** (`score_pair`): a near-identical title backed by the authors, or a
  similar title backed by year and place of publication, or the full place of
  publication backed by the authors.

The thresholds are few and deliberately round, set from what an export changes in a
title (case, punctuation, a dropped subtitle word, a typo) rather than fitted to the
truth sets: `TITLE_SAME`, `TITLE_SIMILAR` and `AUTHORS_AGREE`. Titles are compared
with rapidfuzz's normalised Indel similarity (`fuzz.ratio`), 1.0 for equal strings.
"""

from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import fuzz

from import_pipeline.dedup.normalise import Evidence
from import_pipeline.dedup.vocabulary import DuplicateDetermination

TITLE_SAME = 0.95
"""Titles this similar differ by at most about one character in twenty: the same title
spelt by two exports (punctuation, a typo, an abbreviated word)."""
TITLE_SIMILAR = 0.85
"""Titles this similar may differ by a word or two (a subtitle, a translated word); only
enough with first author, year and place of publication agreeing."""
AUTHORS_AGREE = 0.5
"""At least half of the shorter author list is in the other (surnames): one export may
list only the first few authors, or spell a name differently."""
YEARS_APART_AT_MOST = 1
"""Online and print years of one paper differ by one at most."""

# Contradictions that show two different works, not a clerical difference between two
# exports of one work: a pair with one of these is never left unresolved.
_DISTINGUISHING = frozenset({"year", "title_numbers"})


@dataclass(frozen=True, slots=True)
class PairDecision:
    """The new reference against one existing reference: determination, score, and why."""

    determination: DuplicateDetermination
    """`duplicate` (of this reference), `canonical` (not of this one) or `unresolved`."""
    score: float
    """0 to 1: the mean of the similarities known (title, authors, year, place)."""
    evidence: dict[str, Any] = field(default_factory=dict)
    """Why: the similarities, the agreements and the contradictions found."""


def title_similarity(a: Evidence, b: Evidence) -> float | None:
    """Similarity of the normalised titles, 0 to 1; None when either is unknown."""
    if not (a.title and b.title):
        return None
    return fuzz.ratio(a.title, b.title) / 100.0


def author_similarity(a: Evidence, b: Evidence) -> float | None:
    """Share of the shorter surname list found in the other (order ignored); None if unknown."""
    if not (a.authors and b.authors):
        return None
    mine, theirs = set(a.authors), set(b.authors)
    return len(mine & theirs) / min(len(mine), len(theirs))


def _differ(a: object, b: object) -> bool:
    """Both known and not equal."""
    return a is not None and b is not None and a != b


def _in_order_within(short: tuple[int, ...], long: tuple[int, ...]) -> bool:
    """True when `short` is a subsequence of `long` (what an appended citation leaves)."""
    remaining = iter(long)
    return all(number in remaining for number in short)


def contradictions(a: Evidence, b: Evidence) -> tuple[str, ...]:
    """The names of the fields on which `a` and `b` contradict each other (empty: none).

    Pages: different first pages, or different last pages of the same first page (a
    last page without a first page is what a broken export left of a range, e.g.
    "Suppl"-"29", and is not compared). An issue counts only when the first pages do not
    agree: exports disagree on issues ("Pt 3", supplements, issue numbers some databases
    replace by their own: every true pair of one truth set), while the same first page
    places the paper. A journal article and a conference paper (`venue_type`) are two
    publications, even of one study. Title numbers contradict when neither title's
    numbers appear, in order, among the other's, or when their part numbers differ
    ("part I" against "part II", or against none); a title with a citation appended
    ("... vol 142 pg 310 2003") does not contradict.
    """
    found: list[str] = []
    if _differ(a.doi, b.doi):
        found.append("doi")
    if a.year is not None and b.year is not None and abs(a.year - b.year) > YEARS_APART_AT_MOST:
        found.append("year")
    if _differ(a.first_page, b.first_page) or (
        a.first_page is not None and b.first_page is not None and _differ(a.last_page, b.last_page)
    ):
        found.append("pages")
    if _differ(a.volume, b.volume):
        found.append("volume")
    pages_agree = a.first_page is not None and a.first_page == b.first_page
    if _differ(a.issue, b.issue) and not pages_agree:
        found.append("issue")
    if _differ(a.venue_type, b.venue_type):
        found.append("venue_type")
    if a.part_numbers != b.part_numbers or not (
        _in_order_within(a.title_numbers, b.title_numbers)
        or _in_order_within(b.title_numbers, a.title_numbers)
    ):
        found.append("title_numbers")
    return tuple(found)


def _same_place(a: Evidence, b: Evidence) -> bool:
    """Same volume and same first page, both known: where one article sits in a journal."""
    return (
        a.volume is not None
        and a.first_page is not None
        and ((a.volume, a.first_page) == (b.volume, b.first_page))
    )


def _same_issue_place(a: Evidence, b: Evidence) -> bool:
    """`_same_place` with the same issue too.

    Journals that paginate each issue anew repeat first pages within a volume.
    """
    return _same_place(a, b) and a.issue is not None and a.issue == b.issue


def _score(similarities: list[float]) -> float:
    return round(sum(similarities) / len(similarities), 4) if similarities else 0.0


def _title_contained(a: Evidence, b: Evidence) -> bool:
    """One title's words are (nearly) all in the other's.

    As when one export appends a subtitle, a translation or a citation ("... N Engl J
    Med 2009 360 5 544").
    """
    return bool(a.title and b.title) and fuzz.token_set_ratio(a.title, b.title) >= 100 * TITLE_SAME


def worth_scoring(new: Evidence, existing: Evidence) -> bool:
    """False when `score_pair` can only answer `canonical` for the pair: a cheap pre-check.

    Every rule but `canonical` needs the same DOI, the same volume and first page, or a
    title at least `TITLE_SIMILAR` alike (`same_title`, which the `title_authors`,
    `title_only` and clerical `contradicted` answers need, is stricter still). A title
    contained in the other counts only in the `doi` and `title_place` rules, which need
    the same DOI or place anyway, so it is not checked here. A pair with none of these is
    told apart without computing the rest (a hot blocking key such as "2020, Wang"
    brings many of them).
    """
    if new.doi is not None and new.doi == existing.doi:
        return True
    if _same_place(new, existing):
        return True
    if not (new.title and existing.title):
        return False
    return bool(fuzz.ratio(new.title, existing.title, score_cutoff=100 * TITLE_SIMILAR))


def score_pair(new: Evidence, existing: Evidence) -> PairDecision:
    """Decide `new` against `existing`: duplicate of it, not of it (canonical), or unresolved.

    With no contradiction, a duplicate when one of these holds (`rule` in the evidence):

    - `doi`: the same DOI, and titles similar (`TITLE_SIMILAR`) or unknown;
    - `title_authors`: the same title (`TITLE_SAME`) and the authors agree
      (`AUTHORS_AGREE`, or the same first author);
    - `title_place`: a similar title (`TITLE_SIMILAR`, or one title contained in the
      other), the same year and the same place (volume and first page), with the authors
      agreeing or the title the same (a corporate author against a person);
    - `place_authors`: the same year, volume, issue and first page, the same first author
      and the authors agreeing, whatever the titles (a title translated, abridged):
      an article's place in a journal, with its authors, identifies it.

    Unresolved when the title is the same and the authors agree but one DOI, page,
    volume, issue or venue type contradicts (an erratum, a conference version, or a
    clerical error: a person should look; two contradictions make two works), when
    the title is the same and nothing else can back it (no authors, no place), or when
    `place_authors` holds but a title is missing (a record without a title may be an
    index entry of the issue). Canonical otherwise.
    """
    title = title_similarity(new, existing)
    authors = author_similarity(new, existing)
    same_first_author = new.first_author is not None and new.first_author == existing.first_author
    same_year = new.year is not None and new.year == existing.year
    place = _same_place(new, existing)
    vetoes = contradictions(new, existing)
    similarities = [s for s in (title, authors) if s is not None]
    similarities += [float(same_year), float(place)]
    evidence: dict[str, Any] = {
        "title_similarity": title,
        "author_similarity": authors,
        "same_first_author": same_first_author,
        "same_year": same_year,
        "same_place": place,
        "contradictions": list(vetoes),
    }
    score = _score(similarities)
    same_title = title is not None and title >= TITLE_SAME
    similar_title = (title is not None and title >= TITLE_SIMILAR) or _title_contained(
        new, existing
    )
    authors_agree = same_first_author or (authors is not None and authors >= AUTHORS_AGREE)

    def decided(determination: DuplicateDetermination, rule: str) -> PairDecision:
        return PairDecision(determination, score, evidence | {"rule": rule})

    if vetoes:
        clerical = len(vetoes) == 1 and not _DISTINGUISHING.intersection(vetoes)
        if clerical and same_title and authors_agree:
            return decided(DuplicateDetermination.UNRESOLVED, "contradicted")
        return decided(DuplicateDetermination.CANONICAL, "contradicted")
    if new.doi is not None and new.doi == existing.doi and (title is None or similar_title):
        return decided(DuplicateDetermination.DUPLICATE, "doi")
    if same_title and authors_agree:
        return decided(DuplicateDetermination.DUPLICATE, "title_authors")
    if similar_title and same_year and place and (authors_agree or same_title):
        return decided(DuplicateDetermination.DUPLICATE, "title_place")
    exact_place = _same_issue_place(new, existing)
    if (
        same_year
        and exact_place
        and same_first_author
        and authors is not None
        and authors >= AUTHORS_AGREE
    ):
        if title is None:
            return decided(DuplicateDetermination.UNRESOLVED, "place_authors_without_title")
        return decided(DuplicateDetermination.DUPLICATE, "place_authors")
    if same_title and authors is None:
        return decided(DuplicateDetermination.UNRESOLVED, "title_only")
    return decided(DuplicateDetermination.CANONICAL, "no_rule")
