"""Blocking keys: plain strings a database can index to find a reference's candidates.

Scoring every pair of a repository is quadratic; a probable duplicate almost always
shares at least one cheap key with its canonical reference: the DOI, the start of the
title, the year with the first author's surname, or the year with volume and first page.
A reference is stored under its `index_keys`; a new reference looks up its `probe_keys`,
which add the neighbouring years (a paper's print and online years often differ by one).
Each key names its kind before the first colon, so a store can count or cap them by kind.
"""

from import_pipeline.dedup.normalise import Evidence

TITLE_PREFIX_LENGTH = 25
"""Characters of the title (spaces removed) in its key: past most leading-word variants,
before most truncations and subtitles."""
MIN_TITLE_LENGTH = 10
"""Titles shorter than this ("editorial", "reply") give no title key: too many share it."""


def _title_key(evidence: Evidence) -> str | None:
    squashed = evidence.title.replace(" ", "")
    if len(squashed) < MIN_TITLE_LENGTH:
        return None
    return f"title:{squashed[:TITLE_PREFIX_LENGTH]}"


def _keys(evidence: Evidence, years: tuple[int, ...]) -> frozenset[str]:
    keys: set[str] = set()
    if evidence.doi:
        keys.add(f"doi:{evidence.doi}")
    title_key = _title_key(evidence)
    if title_key:
        keys.add(title_key)
    for year in years:
        if evidence.first_author:
            keys.add(f"year-author:{year}:{evidence.first_author}")
        if evidence.volume and evidence.first_page:
            keys.add(f"year-volume-page:{year}:{evidence.volume}:{evidence.first_page}")
    return frozenset(keys)


def index_keys(evidence: Evidence) -> frozenset[str]:
    """The keys a reference is stored under (its own year only)."""
    return _keys(evidence, (evidence.year,) if evidence.year is not None else ())


def probe_keys(evidence: Evidence) -> frozenset[str]:
    """The keys a new reference looks up: its index keys, with the years either side too."""
    if evidence.year is None:
        return _keys(evidence, ())
    year = evidence.year
    return _keys(evidence, (year - 1, year, year + 1))
