"""The bibliographic evidence of a reference, normalised so that two exports of one paper agree.

Sources spell the same paper differently: case, punctuation, accents, a trailing
"[Chinese]", "Zhai Q.J." against "Q. J. Zhai", page "1234-56" against "1234-1256".
`Evidence` keeps only what the scoring compares, in one canonical spelling each; it is
built from a bibliographic enhancement's content (`evidence_from_content`) or from a
parsed line (`evidence_of_line`). Accents are folded with the standard library's
`unicodedata` (NFKD, combining marks dropped); letters of other scripts are kept as
they are, casefolded.
"""

import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from import_pipeline.domain.parsing import ParsedLine

# A bracketed tag anywhere but at the start ("... [Chinese]", "[see comments]"), or one
# left unclosed at the end ("... [erratum appears in Lancet Oncol 201"). A title that
# starts with "[" is MEDLINE's translated title ("[A study on ...]"): kept, unwrapped.
_BRACKETED = re.compile(r"(?<!^)\[[^\]]*(?:\]|$)")
_MARKUP = re.compile(r"<[^>]{1,20}>")
_NOT_ALPHANUMERIC = re.compile(r"[\W_]+")
_DIGITS = re.compile(r"\d+")
_ROMAN_ANYWHERE = {"ii": 2, "iii": 3, "iv": 4, "vi": 6, "vii": 7, "viii": 8, "ix": 9, "xi": 11}
_ROMAN_AFTER_MARKER = {"i": 1, "v": 5, "x": 10, **_ROMAN_ANYWHERE}
# Words after which a lone "I", "V" or "X" is a number ("part I", "phase V"), not a word.
_NUMBER_MARKERS = frozenset(
    {"part", "phase", "type", "stage", "grade", "study", "trial", "chapter", "section", "class"}
)
# Words whose number names one of several works ("part II", "phase 3"): such numbers must
# agree on both sides, where other title numbers may be missing on one (a citation appended).
_PART_MARKERS = frozenset({"part", "phase", "chapter", "section"})
_NAME_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "2nd", "3rd"})
_NAME_PARTICLES = frozenset(
    {"van", "von", "der", "den", "de", "del", "della", "di", "da", "dos", "du", "la", "le"}
)
SURNAMES_CACHED = 1 << 16
"""Display names whose surname `surname` remembers (a few megabytes)."""
_MAX_INITIALS_LENGTH = 3  # "QJ" in "Zhai QJ": an all-capitals token this short is initials


@dataclass(frozen=True, slots=True)
class Evidence:
    """What two references are compared on, each field normalised (None or empty: unknown)."""

    title: str
    """Title casefolded, accents folded, bracketed tags and punctuation dropped."""
    title_numbers: tuple[int, ...]
    """Numbers in the title in order, Roman numerals included ("part II" gives 2)."""
    part_numbers: tuple[int, ...]
    """The title numbers that name a part or phase ("part II", "phase 3")."""
    authors: tuple[str, ...]
    """Author surnames in source order, normalised like the title, without spaces."""
    year: int | None
    venue: str
    """Venue name normalised like the title."""
    venue_type: str | None
    """The DESTINY venue type ("journal", "conference", ...), when given."""
    volume: str | None
    issue: str | None
    first_page: str | None
    last_page: str | None
    """The last page written out in full ("1234-56" gives "1256")."""
    doi: str | None
    """The canonical DOI (lower case, no prefix), as the identifiers carry it."""

    @property
    def first_author(self) -> str | None:
        """The first author's surname, if any author is known."""
        return self.authors[0] if self.authors else None


def fold(text: str) -> str:
    """`text` in NFKD with combining marks (accents) dropped, casefolded."""
    if text.isascii():  # most text: NFKD leaves ASCII as it is, and it has no marks
        return text.casefold()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def normalise_text(text: str | None) -> str:
    """Folded text with bracketed tags, markup and punctuation dropped, single-spaced."""
    if not text:
        return ""
    text = _MARKUP.sub(" ", _BRACKETED.sub(" ", text))
    return _NOT_ALPHANUMERIC.sub(" ", fold(text)).strip()


def title_numbers(title: str) -> tuple[int, ...]:
    """The numbers of a normalised title in order: digit runs, and Roman numerals.

    "ii" to "xi" count anywhere; "i", "v" and "x" only after a word such as "part" or
    "phase", since alone they are usually a pronoun, a "versus" or a variable. The order
    is kept: "HERS II, part I" (2, 1) and "HERS II, part II" (2, 2) must differ.
    """
    numbers: list[int] = []
    previous = ""
    for word in title.split():
        if word.isdigit():
            numbers.append(int(word))
        elif word in _ROMAN_ANYWHERE:
            numbers.append(_ROMAN_ANYWHERE[word])
        elif previous in _NUMBER_MARKERS and word in _ROMAN_AFTER_MARKER:
            numbers.append(_ROMAN_AFTER_MARKER[word])
        elif not word.isalpha():  # letters only (most words): no digit in it
            numbers.extend(int(match) for match in _DIGITS.findall(word))
        previous = word
    return tuple(numbers)


def part_numbers(title: str) -> tuple[int, ...]:
    """The numbers of a normalised title that follow "part", "phase", "chapter" or "section"."""
    words = title.split()
    return tuple(
        number
        for previous, word in itertools.pairwise(words)
        if previous in _PART_MARKERS
        for number in title_numbers(f"{previous} {word}")
    )


def _is_initials(token: str) -> bool:
    """True for "Q", "Q.", "QJ", "Q.J." (what is left of first names by abbreviation)."""
    letters = token.replace(".", "").replace("-", "")
    if not letters:
        return True
    return len(letters) == 1 or (len(letters) <= _MAX_INITIALS_LENGTH and letters.isupper())


@functools.lru_cache(maxsize=SURNAMES_CACHED)
def surname(display_name: str) -> str | None:
    """The surname in an author's display name, normalised; None when there is none.

    Handles "Surname, First", "First M. Surname", "Surname FM" / "Surname F. M." and
    particles ("J. van der Berg" and "van der Berg, J." both give "vanderberg"). Kept for
    the last `SURNAMES_CACHED` names: authors recur across a repository's references,
    and this is half the cost of a reference's evidence.
    """
    name = display_name.strip()
    if "," in name:
        return _squash(name.split(",", 1)[0]) or None
    # Each token with its squashed form, once; suffixes ("Jr") and bare punctuation dropped.
    tokens = [(token, squashed) for token in name.split() if (squashed := _squash(token))]
    tokens = [(token, squashed) for token, squashed in tokens if squashed not in _NAME_SUFFIXES]
    if not tokens:
        return None
    if len(tokens) > 1 and _is_initials(tokens[-1][0]) and not _is_initials(tokens[0][0]):
        return tokens[0][1]  # "Zhai Q. J.": surname first, initials after
    start = len(tokens) - 1
    while start > 0 and tokens[start - 1][1] in _NAME_PARTICLES:
        start -= 1
    # Squashing drops the spaces, so the squashed surname is its tokens' squashed forms.
    return "".join(squashed for _, squashed in tokens[start:])


def _squash(text: str) -> str:
    """Folded text with everything but letters and digits removed ("Tran-Thanh" -> "tranthanh")."""
    return _NOT_ALPHANUMERIC.sub("", fold(text))


def volume_or_issue(value: object) -> str | None:
    """A volume or issue as its first number ("Pt 3" and "3" agree); None when it has none.

    Sources decorate these ("Pt 3", "Suppl 1", "3 Suppl"); the number is what they agree on.
    """
    match = _DIGITS.search(str(value)) if value is not None else None
    return str(int(match.group())) if match else None


def page(value: object) -> str | None:
    """A page as lower-case letters and digits ("S417", "e1234"); None without a digit.

    A value without any digit ("Suppl", "t") is what a broken export left of a page.
    """
    squashed = _squash(str(value)) if value is not None else ""
    return squashed if _DIGITS.search(squashed) else None


def full_last_page(first_page: str | None, last_page: str | None) -> str | None:
    """The last page written out in full: "1234"-"56" gives "1256", "S417"-"29" "S429"."""
    if not (first_page and last_page and last_page.isdigit()):
        return last_page
    digits = first_page.lstrip("abcdefghijklmnopqrstuvwxyz")
    prefix = first_page[: len(first_page) - len(digits)]
    if digits.isdigit() and len(last_page) < len(digits):
        return prefix + digits[: len(digits) - len(last_page)] + last_page
    if prefix and digits.isdigit():
        return prefix + last_page
    return last_page


def _author_surnames(authorship: Iterable[Any]) -> tuple[str, ...]:
    """Surnames of the authors, first position first (the source order otherwise)."""
    authors = [a for a in authorship if isinstance(a, Mapping)]
    authors.sort(key=lambda a: 0 if a.get("position") == "first" else 1)
    names = (surname(str(a.get("display_name", ""))) for a in authors)
    return tuple(name for name in names if name)


def evidence_from_content(content: Mapping[str, Any], doi: str | None = None) -> Evidence:
    """The evidence of a bibliographic enhancement's `content` (DESTINY field names)."""
    title = normalise_text(content.get("title"))
    pagination = content.get("pagination") or {}
    venue = content.get("publication_venue") or {}
    first_page = page(pagination.get("first_page"))
    year = content.get("publication_year")
    return Evidence(
        title=title,
        title_numbers=title_numbers(title),
        part_numbers=part_numbers(title),
        authors=_author_surnames(content.get("authorship") or ()),
        year=year if isinstance(year, int) else None,
        venue=normalise_text(venue.get("display_name")),
        venue_type=venue.get("venue_type") or None,
        volume=volume_or_issue(pagination.get("volume")),
        issue=volume_or_issue(pagination.get("issue")),
        first_page=first_page,
        last_page=full_last_page(first_page, page(pagination.get("last_page"))),
        doi=doi,
    )


def evidence_of_line(line: ParsedLine) -> Evidence:
    """The evidence of a parsed line: its first bibliographic enhancement and its DOI."""
    doi = next((i.identifier for i in line.identifiers if i.identifier_type == "doi"), None)
    content = next(
        (e.content for e in line.enhancements if e.enhancement_type == "bibliographic"), {}
    )
    return evidence_from_content(content, doi)


_TUPLE_FIELDS = ("title_numbers", "part_numbers", "authors")


def evidence_to_json(evidence: Evidence) -> dict[str, Any]:
    """`evidence` as a JSON object (what the store keeps, so it is normalised once)."""
    return {name: getattr(evidence, name) for name in Evidence.__slots__}


def evidence_from_json(data: Mapping[str, Any]) -> Evidence:
    """The `Evidence` that `evidence_to_json` wrote."""
    values = dict(data)
    for name in _TUPLE_FIELDS:
        values[name] = tuple(values[name])
    return Evidence(**values)


def _known_fields(evidence: Evidence) -> int:
    """How many of the compared fields `evidence` knows (its richness)."""
    values = (
        evidence.title,
        evidence.authors,
        evidence.year,
        evidence.venue,
        evidence.volume,
        evidence.issue,
        evidence.first_page,
        evidence.last_page,
    )
    return sum(1 for value in values if value)


def reference_evidence(
    contents: Iterable[tuple[str, Mapping[str, Any]]], dois: Iterable[str]
) -> Evidence:
    """The evidence of a stored reference: its richest bibliographic enhancement, its DOI.

    `contents` are (content hash, content) of its bibliographic enhancements; the one
    that knows most fields wins, ties by content hash, so the choice does not depend on
    the order in which merges added them. The DOI is the smallest of `dois`.
    """
    doi = min(dois, default=None)
    best: Evidence | None = None
    best_rank: tuple[int, str] | None = None
    for content_hash, content in contents:
        evidence = evidence_from_content(content, doi)
        rank = (-_known_fields(evidence), content_hash)
        if best_rank is None or rank < best_rank:
            best, best_rank = evidence, rank
    return best if best is not None else evidence_from_content({}, doi)
