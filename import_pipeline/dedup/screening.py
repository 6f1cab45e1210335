"""Screening: which candidates of a new reference are worth scoring, a blocking key at a time.

A hot blocking key ("2020, Wang") brings a new reference a hundred candidates, nearly
all told apart by `scoring.worth_scoring` without the rest of the evidence. The step
reads what the pre-check needs of each candidate (`Screen`: title, DOI, volume, first
page) and arranges the screens of the references under each key once (`KeyScreens`):
their titles in one list, for rapidfuzz's C loop (`process.extract`), and their DOIs and
places in dictionaries. A new reference is then screened against each of its keys in a
few calls, however many candidates the key holds, and only the candidates worth
scoring come back. `KeyScreens.worthy` answers exactly what `worth_scoring` answers,
pair by pair (a unit test holds it to that, and to the pre-check's promise: a pair it
leaves out is one `score_pair` calls canonical).
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


@dataclass(frozen=True, slots=True)
class KeyScreens:
    """The references under one blocking key (ascending ids), arranged to be screened."""

    ids: list[int]
    titles: list[str]
    by_doi: dict[str, list[int]]
    """Positions in `ids` by DOI."""
    by_place: dict[tuple[str, str], list[int]]
    """Positions in `ids` by (volume, first page), both known."""

    @classmethod
    def of(cls, ids: Sequence[int], screens: Sequence[Screen]) -> "KeyScreens":
        """The key's references `ids` (ascending) with their `screens`, in the same order."""
        by_doi: dict[str, list[int]] = {}
        by_place: dict[tuple[str, str], list[int]] = {}
        for position, screen in enumerate(screens):
            if screen.doi is not None:
                by_doi.setdefault(screen.doi, []).append(position)
            if screen.volume is not None and screen.first_page is not None:
                by_place.setdefault((screen.volume, screen.first_page), []).append(position)
        return cls(list(ids), [screen.title for screen in screens], by_doi, by_place)

    def worthy(self, new: Evidence, before: int) -> set[int]:
        """The ids among the first `before` worth scoring against `new` (`worth_scoring`).

        The titles go through `process.extract` (`fuzz.ratio` at `TITLE_SIMILAR`) in one
        call; the same DOI and the same volume and first page are looked up.
        """
        positions: list[int] = []
        if new.doi is not None:
            positions.extend(p for p in self.by_doi.get(new.doi, ()) if p < before)
        if new.volume is not None and new.first_page is not None:
            place = (new.volume, new.first_page)
            positions.extend(p for p in self.by_place.get(place, ()) if p < before)
        if new.title:
            titles = self.titles if before == len(self.titles) else self.titles[:before]
            positions.extend(
                position
                for _, _, position in process.extract(
                    new.title,
                    titles,
                    scorer=fuzz.ratio,
                    score_cutoff=100 * TITLE_SIMILAR,
                    limit=None,
                )
            )  # an empty title is 0 alike to any other: never past the cut-off
        return {self.ids[p] for p in positions}
