"""Duplicates made on purpose: the rules checked on records they were not tuned on.

A seeded generator takes real records (single ones of bib_dedupe_digital_work, which
have full names, DOIs and pages) and makes a copy of each as another database would
export it: DOI dropped, case and punctuation changed, first names abbreviated, authors
reordered, a bracketed language tag added, in random combinations. Every copy must be
decided a duplicate of its original among all the originals; and a copy given one
contradiction (another year, page, volume, DOI, or a "part II") must never be.
"""

import copy
import gzip
import random
import re
import uuid

import orjson
import pytest

from import_pipeline.dedup.candidates import InMemoryCandidateIndex
from import_pipeline.dedup.decisions import decide
from import_pipeline.dedup.normalise import evidence_from_content
from import_pipeline.dedup.scoring import score_pair
from import_pipeline.dedup.vocabulary import DuplicateDetermination
from import_pipeline_tests.data_files import real_file

SEED = 20261201
SAMPLE = 300
LANGUAGE_TAGS = ("[Spanish]", "[Article in German]", "[Chinese]", "[French]")


def _bibliographic(line):
    return next(
        e["content"]
        for e in line["enhancements"]
        if e["content"]["enhancement_type"] == "bibliographic"
    )


def _doi(line):
    return next(
        (i["identifier"].lower() for i in line["identifiers"] if i["identifier_type"] == "doi"),
        None,
    )


@pytest.fixture(scope="module")
def originals():
    """A seeded sample of single (non-duplicate) records with a title, authors and a year."""
    with gzip.open(real_file("bib_dedupe_digital_work.truth.csv.gz"), "rt") as handle:
        singles = {
            int(row.split(",")[0]) for row in handle.read().splitlines()[1:] if ",single:" in row
        }
    with gzip.open(real_file("bib_dedupe_digital_work.jsonl.gz"), "rb") as handle:
        lines = [orjson.loads(text) for text in handle]
    usable = [
        (_bibliographic(line), _doi(line))
        for number, line in enumerate(lines, start=1)
        if number in singles
        and len(_bibliographic(line).get("title", "")) >= 30
        and _bibliographic(line).get("authorship")
        and _bibliographic(line).get("publication_year")
    ]
    return random.Random(SEED).sample(usable, SAMPLE)


def _abbreviate(name, rng):
    """ "Bruno Abrahao" as "B. Abrahao", "Abrahao B" or "Abrahao, B."."""
    parts = name.split()
    if len(parts) < 2:
        return name
    initials = [p[0] + "." for p in parts[:-1] if p[0].isalpha()]
    return rng.choice(
        [
            " ".join([*initials, parts[-1]]),
            f"{parts[-1]} {''.join(i[0] for i in initials)}",
            f"{parts[-1]}, {' '.join(initials)}",
        ]
    )


def _recase(title, rng):
    return rng.choice([title.upper(), title.lower(), title.title()])


def _repunctuate(title, rng):
    return rng.choice(
        [re.sub(r"[^\w\s]", "", title), title.replace(":", " -") + ".", title.replace(" ", "  ", 2)]
    )


def perturb(content, doi, rng):
    """A copy of a record as another export might give it: (content, doi)."""
    content = copy.deepcopy(content)
    changes = [
        c for c in ("doi", "case", "punctuation", "names", "order", "tag") if rng.random() < 0.6
    ] or ["doi"]
    if "case" in changes:
        content["title"] = _recase(content["title"], rng)
    if "punctuation" in changes:
        content["title"] = _repunctuate(content["title"], rng)
    if "tag" in changes:
        content["title"] = f"{content['title']} {rng.choice(LANGUAGE_TAGS)}"
    authors = content["authorship"]
    if "names" in changes:
        for author in authors:
            author["display_name"] = _abbreviate(author["display_name"], rng)
    if "order" in changes and len(authors) > 1:
        authors[0], authors[1] = authors[1], authors[0]
    return content, (None if "doi" in changes else doi)


def contradict(content, doi, original_doi, rng):
    """The copy with one piece of evidence that makes it another work, and its kind.

    Only evidence the original has can contradict it: a DOI, page or volume is changed
    only where the original gives one.
    """
    content = copy.deepcopy(content)
    pagination = content.setdefault("pagination", {})
    kinds = ["year", "part"]
    kinds += ["doi"] if original_doi else []
    kinds += ["page"] if re.search(r"\d", pagination.get("first_page") or "") else []
    kinds += ["volume"] if re.search(r"\d", pagination.get("volume") or "") else []
    kind = rng.choice(kinds)
    if kind == "year":
        content["publication_year"] += rng.choice([-3, -2, 2, 3])
    elif kind == "part":
        content["title"] += " Part II"
    elif kind == "doi":
        doi = f"10.9999/other.{rng.randrange(10**6)}"
    elif kind == "page":
        pagination["first_page"] = str(int(re.sub(r"\D", "", pagination["first_page"])) + 17)
        pagination.pop("last_page", None)
    else:
        pagination["volume"] = str(int(re.search(r"\d+", pagination["volume"]).group()) + 1)
    return content, doi, kind


def test_every_perturbed_copy_is_found_as_a_duplicate_of_its_original(originals):
    rng = random.Random(SEED)
    index = InMemoryCandidateIndex()
    ids = [uuid.UUID(int=n) for n in range(1, len(originals) + 1)]
    for reference, (content, doi) in zip(ids, originals, strict=True):
        index.add(reference, reference, evidence_from_content(content, doi))
    missed = []
    for reference, (content, doi) in zip(ids, originals, strict=True):
        copy_content, copy_doi = perturb(content, doi, rng)
        decision = decide(
            evidence_from_content(copy_content, copy_doi),
            index.candidates(evidence_from_content(copy_content, copy_doi)),
        )
        if decision.duplicate_of != reference:
            missed.append(
                (content["title"], copy_content["title"], decision.determination, decision.evidence)
            )
    assert missed == []


def test_a_perturbed_copy_with_one_contradiction_is_never_a_duplicate(originals):
    rng = random.Random(SEED + 1)
    kinds = set()
    merged = []
    for content, doi in originals:
        copy_content, copy_doi = perturb(content, doi, rng)
        if copy_doi is None and rng.random() < 0.5:
            copy_doi = doi  # so that a "doi" contradiction meets a known DOI on both sides
        wrong_content, wrong_doi, kind = contradict(copy_content, copy_doi, doi, rng)
        kinds.add(kind)
        decision = score_pair(
            evidence_from_content(wrong_content, wrong_doi), evidence_from_content(content, doi)
        )
        if decision.determination is DuplicateDetermination.DUPLICATE:
            merged.append((kind, content["title"], wrong_content["title"], decision.evidence))
    assert kinds == {"year", "part", "doi", "page", "volume"}
    assert merged == []
