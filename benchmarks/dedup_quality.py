"""Probable-duplicate quality on the truth sets: pairwise precision, recall, F1, and speed.

    uv run python -m benchmarks.dedup_quality            # every truth set
    uv run python -m benchmarks.dedup_quality --smoke    # one small set (CI)
    uv run python -m benchmarks.dedup_quality --set bib_dedupe_stroke --show 20
    uv run python -m benchmarks.dedup_quality --database postgresql   # through the real step

For each set of `import_pipeline_tests/data/real/`, lines are read in order and each
line is a new reference decided against all earlier ones, as an import would do it:
first the exact-identifier merge (lines sharing a canonical identifier are one
reference, unless `contradicts_shared_identifier` says the shared identifier is
contested), then a probable-duplicate decision (`import_pipeline.dedup.decisions.decide`)
against the candidates a `CandidateSearch` finds by blocking keys. The search is in
memory here (`InMemoryCandidateIndex`); `deduplicate_lines` takes any `CandidateSearch`,
so the database-backed one can be measured the same way. With `--database sqlite` or
`--database postgresql`, each set is instead imported into a fresh database and decided
by the real deduplication step (`benchmarks.dedup_step`), and the groups are read back
from the results' `duplicate_of`.

A pair of lines is predicted when both end in one group (the same reference, or
references decided duplicates of one canonical reference), true when the truth CSV
puts them in one cluster. SYNERGY sets have no true pairs: each predicted pair there
is a false merge. `bib_dedupe_pair_cases` is scored per case (25 labelled pairs).
The time is that of the deduplication work per line (evidence, candidate search,
decision, indexing), parsing excluded, per 10,000 references.

When `bib_dedupe` is importable (it is no dependency of this project), its figures on
the same lines are printed beside ours.
"""

import argparse
import csv
import gzip
import importlib
import io
import itertools
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from import_pipeline.dedup.candidates import CandidateSearch, InMemoryCandidateIndex
from import_pipeline.dedup.decisions import contradicts_shared_identifier, decide
from import_pipeline.dedup.normalise import Evidence, evidence_of_line
from import_pipeline.dedup.vocabulary import DuplicateDetermination
from import_pipeline.domain.parsing import ParsedLine, parse_line
from import_pipeline_tests.data_files import REAL_SOURCES, real_file

SMOKE_SET = "bib_dedupe_stroke"
PAIR_CASES = "bib_dedupe_pair_cases"


@dataclass(frozen=True, slots=True)
class TruthSet:
    """One data set: its lines, and the truth cluster of each (1-based line -> label)."""

    name: str
    lines: tuple[bytes, ...]
    cluster_of: dict[int, str]
    pair_cases: tuple[tuple[str, int, int, bool], ...] = ()
    """Only for the pair-cases set: (case id, line a, line b, expected duplicate)."""


@dataclass(slots=True)
class Assignment:
    """Where the lines of a set ended: each line's group, and the decisions made."""

    group_of: dict[int, str] = field(default_factory=dict)
    """1-based line number -> group label (the canonical reference id)."""
    determinations: Counter[str] = field(default_factory=Counter)
    """How many lines ended how: one count per line (a decision, a merge, a failure)."""
    seconds: float = 0.0
    references: int = 0


def _read_csv(path: Path) -> list[dict[str, str]]:
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(io.StringIO(handle.read())))


def load_truth_set(name: str) -> TruthSet:
    """The lines of `name` and their truth clusters (SYNERGY: every line its own)."""
    with gzip.open(real_file(f"{name}.jsonl.gz"), "rb") as handle:
        lines = tuple(line for line in handle if line.strip())
    rows = _read_csv(real_file(f"{name}.truth.csv.gz"))
    if name == PAIR_CASES:
        cases = tuple(
            (r["case_id"], int(r["line_a"]), int(r["line_b"]), r["expected_duplicate"] == "true")
            for r in rows
        )
        return TruthSet(name, lines, {}, cases)
    if "cluster_id" in rows[0]:
        return TruthSet(name, lines, {int(r["line"]): r["cluster_id"] for r in rows})
    return TruthSet(name, lines, {int(r["line"]): f"line:{r['line']}" for r in rows})


class _ExactIdentifierMerge:
    """The importer's exact-duplicate rule over a dict: identifier key -> reference id."""

    def __init__(self) -> None:
        self.owner: dict[str, uuid.UUID] = {}
        self.evidence: dict[uuid.UUID, Evidence] = {}

    def match(self, line: ParsedLine, evidence: Evidence) -> tuple[str, uuid.UUID | None]:
        """("merged", ref), ("conflict", None), ("contested", None) or ("new", None)."""
        matched = {self.owner[i.key] for i in line.identifiers if i.key in self.owner}
        if len(matched) > 1:
            return "conflict", None
        if matched:
            (reference,) = matched
            if contradicts_shared_identifier(evidence, self.evidence[reference]):
                return "contested", None
            return "merged", reference
        return "new", None

    def claim(self, line: ParsedLine, reference: uuid.UUID, evidence: Evidence) -> None:
        """Give `reference` the line's identifiers that nobody holds yet."""
        for identifier in line.identifiers:
            self.owner.setdefault(identifier.key, reference)
        self.evidence.setdefault(reference, evidence)


def deduplicate_lines(
    lines: Sequence[bytes], search: CandidateSearch, clock: Callable[[], float] = time.perf_counter
) -> Assignment:
    """Import `lines` in order into `search`, deciding each new reference; return the groups."""
    merge = _ExactIdentifierMerge()
    canonical_of: dict[uuid.UUID, uuid.UUID] = {}
    result = Assignment()
    for number, text in enumerate(lines, start=1):
        line = parse_line(number, text)
        started = clock()
        if line.failure is not None:
            result.group_of[number] = f"failed:{number}"
            result.determinations["failed line"] += 1
            result.seconds += clock() - started
            continue
        evidence = evidence_of_line(line)
        outcome, reference = merge.match(line, evidence)
        if outcome == "conflict":
            result.group_of[number] = f"failed:{number}"
            result.determinations["identifier conflict"] += 1
        elif outcome == "merged" and reference is not None:
            search.add(reference, canonical_of[reference], evidence)
            result.group_of[number] = str(canonical_of[reference])
            result.determinations["exact-identifier merge"] += 1
        else:
            reference = uuid.uuid4()
            merge.claim(line, reference, evidence)
            if outcome == "contested":
                canonical = reference
                result.determinations[f"{DuplicateDetermination.UNRESOLVED} (contested id)"] += 1
            else:
                decision = decide(evidence, search.candidates(evidence))
                canonical = decision.duplicate_of or reference
                result.determinations[str(decision.determination)] += 1
            canonical_of[reference] = canonical
            search.add(reference, canonical, evidence)
            result.group_of[number] = str(canonical)
            result.references += 1
        result.seconds += clock() - started
    return result


@dataclass(frozen=True, slots=True)
class PairCounts:
    """Pairwise figures of one set."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int
    false_pairs: tuple[tuple[int, int], ...]
    """Line numbers of predicted pairs that the truth puts in different clusters."""

    @property
    def precision(self) -> float | None:
        """Correct / predicted pairs (None when nothing was predicted)."""
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else None

    @property
    def recall(self) -> float | None:
        """Correct / true pairs (None when the set has no true pair)."""
        return self.correct_pairs / self.true_pairs if self.true_pairs else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall, when both are defined."""
        p, r = self.precision, self.recall
        if p is None or r is None or p + r == 0:
            return None
        return 2 * p * r / (p + r)


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


def count_pairs(truth: dict[int, str], predicted: dict[int, str]) -> PairCounts:
    """Pairwise counts of `predicted` groups against `truth` clusters (keyed by line)."""
    by_group: defaultdict[str, list[int]] = defaultdict(list)
    for line, group in predicted.items():
        by_group[group].append(line)
    both = Counter((predicted[line], truth[line]) for line in predicted)
    false_pairs = tuple(
        (a, b)
        for members in by_group.values()
        for a, b in itertools.combinations(sorted(members), 2)
        if truth[a] != truth[b]
    )
    return PairCounts(
        true_pairs=sum(_pairs(n) for n in Counter(truth.values()).values()),
        predicted_pairs=sum(_pairs(len(m)) for m in by_group.values()),
        correct_pairs=sum(_pairs(n) for n in both.values()),
        false_pairs=false_pairs,
    )


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _per_10k(seconds: float, references: int) -> str:
    return f"{seconds / references * 10_000:.2f} s" if references else "-"


def _bib_dedupe_record(number: int, line: ParsedLine) -> dict[str, str]:
    """One line as a bib-dedupe (BibTeX-like) record; the ID is the line number."""
    content = next(
        (e.content for e in line.enhancements if e.enhancement_type == "bibliographic"), {}
    )
    venue = content.get("publication_venue") or {}
    pagination = content.get("pagination") or {}
    conference = venue.get("venue_type") == "conference"
    pages = "-".join(str(pagination[k]) for k in ("first_page", "last_page") if pagination.get(k))
    doi = next((i.identifier for i in line.identifiers if i.identifier_type == "doi"), "")
    abstract = next(
        (
            e.content.get("abstract", "")
            for e in line.enhancements
            if e.enhancement_type == "abstract"
        ),
        "",
    )
    return {
        "ID": str(number),
        "ENTRYTYPE": "inproceedings" if conference else "article",
        "title": content.get("title") or "",
        "author": " and ".join(a.get("display_name", "") for a in content.get("authorship") or ()),
        "year": str(content.get("publication_year") or ""),
        "journal": "" if conference else venue.get("display_name") or "",
        "booktitle": venue.get("display_name") or "" if conference else "",
        "volume": str(pagination.get("volume") or ""),
        "number": str(pagination.get("issue") or ""),
        "pages": pages,
        "doi": doi,
        "abstract": abstract,
    }


def bib_dedupe_groups(lines: Sequence[bytes]) -> tuple[dict[int, str], float] | None:
    """bib-dedupe's groups of `lines` and its seconds (prep, block, match, cluster).

    None when bib_dedupe is not importable: it is no dependency of this project (install
    it in a separate environment to compare). It runs on one process (`cpu=1`), and sees
    all lines at once, as it is meant to be used.
    """
    try:
        bib_dedupe = importlib.import_module("bib_dedupe.bib_dedupe")
        pandas = importlib.import_module("pandas")
    except ImportError:
        return None
    parsed = [(n, parse_line(n, text)) for n, text in enumerate(lines, start=1)]
    records = [_bib_dedupe_record(n, line) for n, line in parsed if line.failure is None]
    started = time.perf_counter()
    prepared = bib_dedupe.prep(pandas.DataFrame(records), verbosity_level=0, cpu=1)
    pairs = bib_dedupe.block(prepared, verbosity_level=0, cpu=1)
    matched = bib_dedupe.match(pairs, verbosity_level=0, cpu=1)
    clusters = bib_dedupe.cluster(matched, verbosity_level=0)
    seconds = time.perf_counter() - started
    group_of = {n: f"single:{n}" for n in range(1, len(lines) + 1)}
    for index, members in enumerate(clusters):
        for member in members:
            group_of[int(member)] = f"cluster:{index}"
    return group_of, seconds


def assign_through_database(truth_set: TruthSet, kind: str) -> Assignment:
    """Where the set's lines end when imported and decided by the real step (`kind` db)."""
    from benchmarks import dedup_step  # noqa: PLC0415 (the store, only in this mode)

    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        units = dedup_step.fresh_units(kind, directory)
        group_of, outcomes, report = dedup_step.groups_through_the_step(
            units, truth_set.lines, directory, truth_set.name
        )
        if kind == "postgresql":
            dedup_step.drop_database(units)
    return Assignment(group_of, outcomes, report.seconds, report.references)


def report_set(
    truth_set: TruthSet, show: int, with_bib_dedupe: bool, database: str | None = None
) -> list[str]:
    """The report lines of one set: our figures, bib-dedupe's, and the false merges.

    `database` (`sqlite` or `postgresql`): through the real step on a fresh database;
    None: in memory.
    """
    if database is None:
        assignment = deduplicate_lines(truth_set.lines, InMemoryCandidateIndex())
    else:
        assignment = assign_through_database(truth_set, database)
    name, lines = truth_set.name, len(truth_set.lines)
    speed = _per_10k(assignment.seconds, lines)
    decided = ", ".join(f"{k} {v}" for k, v in sorted(assignment.determinations.items()))
    if truth_set.pair_cases:
        wrong = [
            case
            for case, a, b, expected in truth_set.pair_cases
            if (assignment.group_of[a] == assignment.group_of[b]) != expected
        ]
        agree = len(truth_set.pair_cases) - len(wrong)
        out = [
            f"| {name} | {lines} | {agree}/{len(truth_set.pair_cases)} cases agree | | | | {speed} |"
        ]
        return [*out, *(f"    disagrees: {case}" for case in wrong)]
    counts = count_pairs(truth_set.cluster_of, assignment.group_of)
    out = [
        f"| {name} | {lines} | {counts.true_pairs} | {counts.predicted_pairs} "
        f"| {_figure(counts.precision)} | {_figure(counts.recall)} | {_figure(counts.f1)} "
        f"| {len(counts.false_pairs)} | {speed} |"
    ]
    if with_bib_dedupe:
        theirs = bib_dedupe_groups(truth_set.lines)
        if theirs is not None:
            groups, seconds = theirs
            other = count_pairs(truth_set.cluster_of, groups)
            out.append(
                f"| {name} (bib-dedupe) | {lines} | {other.true_pairs} | {other.predicted_pairs} "
                f"| {_figure(other.precision)} | {_figure(other.recall)} | {_figure(other.f1)} "
                f"| {len(other.false_pairs)} | {_per_10k(seconds, lines)} |"
            )
    out.append(f"    decisions: {decided}")
    out.extend(f"    false merge: lines {a} and {b}" for a, b in counts.false_pairs[:show])
    if len(counts.false_pairs) > show:
        out.append(f"    ... {len(counts.false_pairs) - show} more false pairs")
    return out


HEADER = (
    "| set | lines | true pairs | predicted pairs | precision | recall | F1 | false pairs "
    "| time per 10,000 |\n|---|---|---|---|---|---|---|---|---|"
)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the quality table of the chosen sets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help=f"only {SMOKE_SET}")
    parser.add_argument("--set", action="append", choices=REAL_SOURCES, help="a set (repeatable)")
    parser.add_argument("--show", type=int, default=10, help="false merges listed per set")
    parser.add_argument("--no-bib-dedupe", action="store_true", help="skip bib-dedupe")
    parser.add_argument(
        "--database",
        choices=["sqlite", "postgresql"],
        help="import into a fresh database and decide with the real step (default: in memory)",
    )
    args = parser.parse_args(argv)
    names = [SMOKE_SET] if args.smoke else (args.set or list(REAL_SOURCES))
    print(HEADER)
    for name in names:
        rows = report_set(load_truth_set(name), args.show, not args.no_bib_dedupe, args.database)
        for row in rows:
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
