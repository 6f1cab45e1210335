"""The quality benchmark at smoke size, its pair arithmetic, and its exact-identifier merge.

CI runs `benchmarks.dedup_quality --smoke` here (one small truth set, in memory). The
issue's quality targets are asserted for that set; timing never is.
"""

import orjson

from benchmarks.dedup_quality import (
    HEADER,
    SMOKE_SET,
    count_pairs,
    deduplicate_lines,
    load_truth_set,
    main,
)
from import_pipeline.dedup.candidates import InMemoryCandidateIndex


def test_the_smoke_size_prints_its_row(capsys):
    assert main(["--smoke", "--no-bib-dedupe"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[:2] == HEADER.splitlines()
    (row,) = [line for line in printed if line.startswith(f"| {SMOKE_SET} |")]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == 9
    assert cells[1] == "1292"  # every line of the set was read
    assert cells[8].endswith(" s")  # a time per 10,000 is shown (its value is not checked)


def test_the_smoke_set_meets_the_quality_targets():
    truth_set = load_truth_set(SMOKE_SET)
    assignment = deduplicate_lines(truth_set.lines, InMemoryCandidateIndex())
    counts = count_pairs(truth_set.cluster_of, assignment.group_of)
    assert counts.true_pairs == 479
    assert counts.precision is not None and counts.precision >= 0.995
    assert counts.recall is not None and counts.recall >= 0.95


def test_pairwise_counts():
    truth = {1: "a", 2: "a", 3: "a", 4: "b", 5: "c"}
    predicted = {1: "x", 2: "x", 3: "y", 4: "y", 5: "z"}
    counts = count_pairs(truth, predicted)
    assert (counts.true_pairs, counts.predicted_pairs, counts.correct_pairs) == (3, 2, 1)
    assert counts.false_pairs == ((3, 4),)
    assert counts.precision == 0.5
    assert counts.recall == 1 / 3
    assert counts.f1 is not None and abs(counts.f1 - 0.4) < 1e-9
    nothing = count_pairs({1: "a", 2: "b"}, {1: "x", 2: "y"})
    assert (nothing.precision, nothing.recall, nothing.f1) == (None, None, None)


def _line(title, pages, *identifiers):
    return orjson.dumps(
        {
            "identifiers": [
                {"identifier_type": kind, "identifier": value} for kind, value in identifiers
            ],
            "enhancements": [
                {
                    "source": "test",
                    "visibility": "public",
                    "content": {
                        "enhancement_type": "bibliographic",
                        "title": title,
                        "publication_year": 2002,
                        "authorship": [{"display_name": "Stephen Hulley", "position": "first"}],
                        "pagination": {"volume": "288", "first_page": pages},
                    },
                }
            ],
        }
    )


def test_exact_identifier_merge_and_a_contested_pubmed_id():
    lines = [
        _line(
            "Cardiovascular disease outcomes",
            "49",
            ("doi", "10.1001/jama.288.1.49"),
            ("pm_id", 12090863),
        ),
        _line(
            "Noncardiovascular disease outcomes",
            "58",
            ("doi", "10.1001/jama.288.1.58"),
            ("pm_id", 12090863),
        ),
        _line(
            "Cardiovascular disease outcomes",
            "49",
            ("doi", "https://doi.org/10.1001/JAMA.288.1.49"),
        ),
        b"not json",
    ]
    assignment = deduplicate_lines(lines, InMemoryCandidateIndex())
    assert assignment.group_of[1] == assignment.group_of[3]  # one DOI: one reference
    assert assignment.group_of[2] != assignment.group_of[1]  # the shared PMID is contested
    assert assignment.group_of[4] == "failed:4"
    assert assignment.determinations == {
        "canonical": 1,
        "unresolved (contested id)": 1,
        "exact-identifier merge": 1,
        "failed line": 1,
    }
    assert assignment.references == 2


def test_the_smoke_set_through_the_real_step_on_sqlite_meets_the_targets():
    """The same set imported into a fresh SQLite database and decided by the real step."""
    from benchmarks.dedup_quality import assign_through_database  # noqa: PLC0415

    truth_set = load_truth_set(SMOKE_SET)
    assignment = assign_through_database(truth_set, "sqlite")
    counts = count_pairs(truth_set.cluster_of, assignment.group_of)
    assert len(assignment.group_of) == 1292
    assert counts.precision is not None and counts.precision >= 0.995
    assert counts.recall is not None and counts.recall >= 0.95
