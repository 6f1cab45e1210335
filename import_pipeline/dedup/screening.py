"""Screening: which candidates of a new reference are worth scoring, for many at once.

A hot blocking key ("2020, Wang") brings a new reference a hundred candidates, nearly
all told apart by `scoring.worth_scoring` without the rest of the evidence. The step
screens each new reference against all its candidates in one call, with what the
pre-check reads of each candidate (`Screen`: title, DOI, volume, first page) rather
than its whole evidence, and the title comparisons run in rapidfuzz's C loops
(`process.extract`) instead of one Python call per pair. `worth_scoring_many` answers
exactly what `worth_scoring` answers, pair by pair (a unit test holds it to that, and
to the pre-check's promise: a pair it leaves out is one `score_pair` calls canonical).
"""

from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from import_pipeline.dedup.normalise import Evidence
from import_pipeline.dedup.scoring import TITLE_SIMILAR


@dataclass(frozen=True, slots=True)
class Screen:
    """The fields of a candidate's evidence that `worth_scoring` reads."""

    title: str
    doi: str | None
    volume: str | None
    first_page: str | None


def screen_of(evidence: Evidence) -> Screen:
    """What the screening reads of `evidence`."""
    return Screen(evidence.title, evidence.doi, evidence.volume, evidence.first_page)


def worth_scoring_many(new: Evidence, screens: Sequence[Screen]) -> list[bool]:
    """`worth_scoring(new, candidate)` for each candidate, in order, from its `Screen`.

    The titles go through rapidfuzz's `process.extract` (`fuzz.ratio` at `TITLE_SIMILAR`)
    in one call; the same DOI and the same volume and first page are compared only when
    `new` has them.
    """
    worth = [False] * len(screens)
    if new.title:
        titles = [screen.title for screen in screens]
        for _, _, position in process.extract(
            new.title, titles, scorer=fuzz.ratio, score_cutoff=100 * TITLE_SIMILAR, limit=None
        ):
            worth[position] = bool(titles[position])
    if new.doi is not None:
        for position, screen in enumerate(screens):
            if screen.doi == new.doi:
                worth[position] = True
    if new.volume is not None and new.first_page is not None:
        place = (new.volume, new.first_page)
        for position, screen in enumerate(screens):
            if (screen.volume, screen.first_page) == place:
                worth[position] = True
    return worth
