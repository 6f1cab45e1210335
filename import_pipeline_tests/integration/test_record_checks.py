"""The record checks on real stores: a cleanly imported record passes each, and a database
prepared to break one rule (a line without a result, a line with two, a result left
`retrying`, an identifier on two references, too many failed lines) fails it."""

import json
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from import_pipeline.domain.errors import UnknownRecordError
from import_pipeline.domain.models import ImportBatch, ImportRecord
from import_pipeline.services.batches import process_batch
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.record_checks import (
    SAMPLE_ROWS,
    failed_share_below_threshold,
    identifiers_unique,
    results_complete,
    results_settled,
)
from import_pipeline.services.registration import register_import
from import_pipeline.store.tables import (
    external_identifier,
    import_batch,
    import_result,
    reference,
)
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.store_access import repository


def doi_line(n):
    return json.dumps(
        {"identifiers": [{"identifier_type": "doi", "identifier": f"10.1000/abc{n}"}]}
    )


def write_source(path, count, *, blank_every=0, invalid_every=0):
    """`count` lines: DOI 10.1000/abc<n>, blank every `blank_every`th, invalid JSON every
    `invalid_every`th."""
    lines = []
    for n in range(1, count + 1):
        if blank_every and n % blank_every == 0:
            lines.append("")
        elif invalid_every and n % invalid_every == 0:
            lines.append("not json")
        else:
            lines.append(doi_line(n))
    path.write_text("\n".join(lines) + "\n")
    return path


def imported(engine, *paths, batch_size=20):
    """A record imported through the services, as a run imports it; its id and batches."""
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="checks", processor_name="tests", processor_version="1"),
        [str(path) for path in paths],
    )
    for batch_id in start_and_plan(sql_units(engine), record.id, batch_size):
        process_batch(sql_units(engine), batch_id, chunk_size=7)
    summary = finalise_record(sql_units(engine), record.id)
    return record.id, summary.batches


@pytest.fixture
def clean(engine, tmp_path):
    """45 lines in batches of 20, a blank line every 10th, invalid JSON at line 33."""
    return imported(
        engine, write_source(tmp_path / "refs.jsonl", 45, blank_every=10, invalid_every=33)
    )


def result_row(batch_id, line_number):
    return (
        import_result.c.import_batch_id == batch_id,
        import_result.c.line_number == line_number,
    )


# A clean record --------------------------------------------------------------------------


def test_a_clean_record_passes_every_check(engine, clean):
    record_id, _ = clean
    complete = results_complete(sql_units(engine), record_id)
    assert complete.passed, complete.description
    assert (
        complete.description
        == "every non-blank line of 3 verified batches has exactly one result (41 results)"
    )
    assert complete.metadata["batches_verified"] == 3
    assert complete.metadata["results"] == complete.metadata["source_lines_verified"] == 41
    assert complete.metadata["samples"] == []
    settled = results_settled(sql_units(engine), record_id)
    assert settled.passed and settled.description == "all 41 results settled"
    unique = identifiers_unique(sql_units(engine), record_id)
    assert unique.passed and unique.metadata["shared_identifiers"] == 0
    share = failed_share_below_threshold(sql_units(engine), record_id, 0.05)
    assert share.passed, share.description
    assert share.metadata["lines_failed"] == 1
    assert (
        share.description
        == "2.4% of 41 lines failed or partially failed (at most the threshold of 5.0%)"
    )


def test_an_unknown_record_is_refused(engine):
    for check in (results_complete, results_settled, identifiers_unique):
        with pytest.raises(UnknownRecordError):
            check(sql_units(engine), uuid.uuid4())


# results_complete ------------------------------------------------------------------------


def test_a_line_without_a_result_fails_results_complete(engine, clean):
    record_id, batches = clean
    with engine.begin() as connection:
        connection.execute(sa.delete(import_result).where(*result_row(batches[1].id, 25)))
    outcome = results_complete(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.description == "1 line without a result"
    assert outcome.metadata["lines_without_result"] == 1
    [sample] = outcome.metadata["samples"]
    assert sample == {
        "problem": "lines without a result",
        "batch": str(batches[1].id),
        "line": None,
        "details": "lines 21-40: 18 lines not blank, 17 results",
    }


def test_overlapping_ranges_give_lines_two_results_and_fail_results_complete(engine, clean):
    record_id, batches = clean
    overlapping = ImportBatch(
        import_record_id=record_id, storage_url=batches[0].storage_url, line_start=15, line_end=25
    )
    with repository(engine) as imports:
        imports.add_batches([overlapping])
    process_batch(sql_units(engine), overlapping.id, chunk_size=7)
    outcome = results_complete(sql_units(engine), record_id)
    assert not outcome.passed
    # lines 15-25 but the blank line 20: 10 lines, each with a result in two batches
    assert outcome.description == "10 lines with two results"
    assert outcome.metadata["lines_with_two_results"] == 10
    assert outcome.metadata["batches_verified"] == 4  # each batch alone has its lines
    first = outcome.metadata["samples"][0]
    assert first["problem"] == "two results" and first["line"] == 15
    assert {first["batch"], first["details"].removeprefix("also in ")} == {
        str(batches[0].id),
        str(overlapping.id),
    }


def test_a_result_outside_its_batch_range_fails_results_complete(engine, clean):
    record_id, batches = clean
    with engine.begin() as connection:
        connection.execute(
            sa.update(import_result).where(*result_row(batches[0].id, 5)).values(line_number=41)
        )
    outcome = results_complete(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.metadata["results_outside_range"] == 1
    assert outcome.description == "1 result outside its batch's range"
    [sample] = outcome.metadata["samples"]
    assert sample == {
        "problem": "outside its batch's range",
        "batch": str(batches[0].id),
        "line": 41,
        "details": "the batch has lines 1-20",
    }


def test_many_problems_list_at_most_the_sample_rows(engine, tmp_path):
    record_id, [batch] = imported(engine, write_source(tmp_path / "big.jsonl", 60), batch_size=100)
    with engine.begin() as connection:
        connection.execute(
            sa.update(import_result)
            .where(import_result.c.import_batch_id == batch.id)
            .values(line_number=import_result.c.line_number + 1000)
        )
    outcome = results_complete(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.metadata["results_outside_range"] == 60
    assert len(outcome.metadata["samples"]) == SAMPLE_ROWS


def test_a_batch_whose_source_failed_is_not_held_to_its_lines(engine, tmp_path):
    kept = write_source(tmp_path / "kept.jsonl", 5)
    gone = write_source(tmp_path / "gone.jsonl", 5)
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="checks", processor_name="tests", processor_version="1"),
        [str(kept), str(gone)],
    )
    gone.unlink()
    for batch_id in start_and_plan(sql_units(engine), record.id, 20):
        process_batch(sql_units(engine), batch_id, chunk_size=7)
    finalise_record(sql_units(engine), record.id)
    outcome = results_complete(sql_units(engine), record.id)
    assert outcome.passed, outcome.description
    assert outcome.metadata["batches_source_failed"] == 1
    assert outcome.metadata["batches_verified"] == 1


def test_an_unfinished_batch_fails_results_complete(engine, tmp_path):
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="checks", processor_name="tests", processor_version="1"),
        [str(write_source(tmp_path / "later.jsonl", 5))],
    )
    outcome = results_complete(sql_units(engine), record.id)
    assert not outcome.passed
    assert outcome.description == "1 batch unfinished"
    assert outcome.metadata["samples"][0]["problem"] == "batch unfinished"


def forget_line_counts(engine, record_id):
    with engine.begin() as connection:
        connection.execute(
            sa.update(import_batch)
            .where(import_batch.c.import_record_id == record_id)
            .values(source_lines=None)
        )


def test_without_a_recorded_count_a_local_range_is_counted_now(engine, clean):
    record_id, batches = clean
    forget_line_counts(engine, record_id)  # as for batches settled before migration 0008
    outcome = results_complete(sql_units(engine), record_id)
    assert outcome.passed, outcome.description
    assert outcome.metadata["batches_counted_now"] == 3
    with engine.begin() as connection:
        connection.execute(sa.delete(import_result).where(*result_row(batches[2].id, 45)))
    outcome = results_complete(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.description == "1 line without a result"


def test_without_a_recorded_count_a_changed_or_remote_source_is_not_verifiable(
    engine, clean, tmp_path
):
    record_id, batches = clean
    forget_line_counts(engine, record_id)
    with engine.begin() as connection:
        connection.execute(
            sa.update(import_batch)
            .where(import_batch.c.id == batches[0].id)
            .values(storage_url="https://example.org/refs.jsonl")
        )
    with Path(batches[1].storage_url).open("a") as source:  # changed since the import
        source.write(doi_line(99) + "\n")
    outcome = results_complete(sql_units(engine), record_id)
    assert outcome.passed, outcome.description
    # the remote one, and both ranges of the changed file
    assert outcome.metadata["batches_not_verifiable"] == 3
    assert outcome.metadata["batches_verified"] == 0
    assert outcome.description.endswith("; 3 batches not verifiable")
    reasons = [sample["details"] for sample in outcome.metadata["samples"]]
    assert reasons[0] == "a remote source, and no line count was recorded when it was read"
    assert all("source changed since it was registered" in reason for reason in reasons[1:])


# results_settled -------------------------------------------------------------------------


def test_a_result_left_retrying_fails_results_settled(engine, clean):
    record_id, batches = clean
    with engine.begin() as connection:
        connection.execute(
            sa.update(import_result)
            .where(*result_row(batches[0].id, 3))
            .values(status="retrying", failure_details="Entry 3: retrying after a deadlock")
        )
    outcome = results_settled(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.description == "1 result not settled: 1 retrying"
    assert outcome.metadata["results_retrying"] == outcome.metadata["unsettled_results"] == 1
    assert outcome.metadata["samples"] == [
        {
            "batch": str(batches[0].id),
            "line": 3,
            "status": "retrying",
            "details": "Entry 3: retrying after a deadlock",
        }
    ]


# identifiers_unique ----------------------------------------------------------------------


def reference_of(engine, batch_id, line_number):
    with engine.connect() as connection:
        return connection.execute(
            sa.select(import_result.c.reference_id).where(*result_row(batch_id, line_number))
        ).scalar_one()


def store_identifier(engine, reference_id, identifier_type, identifier):
    with engine.begin() as connection:
        connection.execute(
            sa.insert(external_identifier).values(
                identifier_key=f"{identifier_type}:{identifier}",
                reference_id=reference_id,
                identifier_type=identifier_type,
                identifier=identifier,
            )
        )


def test_an_identifier_on_two_references_fails_identifiers_unique(engine, clean):
    record_id, batches = clean
    first, second = reference_of(engine, batches[0].id, 1), reference_of(engine, batches[0].id, 2)
    # The DOI of line 1 stored again, without its canonical lower case, on line 2's reference.
    store_identifier(engine, second, "doi", "10.1000/ABC1")
    outcome = identifiers_unique(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.metadata["shared_identifiers"] == 1
    assert (
        outcome.description
        == "1 identifier held by two or more references (first: doi:10.1000/abc1)"
    )
    assert outcome.metadata["samples"] == [
        {
            "identifier": "doi:10.1000/abc1",
            "references": ", ".join(str(ref) for ref in sorted([first, second])),
        }
    ]


def test_the_canonical_identifier_may_be_on_a_reference_of_another_record(engine, clean):
    record_id, batches = clean
    elsewhere = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            sa.insert(reference).values(id=elsewhere, visibility="public", created_at=sa.func.now())
        )
    store_identifier(engine, elsewhere, "doi", "10.1000/xyz")
    ours = reference_of(engine, batches[0].id, 1)
    store_identifier(engine, ours, "doi", "10.1000/XYZ")
    outcome = identifiers_unique(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.metadata["samples"] == [
        {
            "identifier": "doi:10.1000/xyz",
            "references": ", ".join(str(ref) for ref in sorted([ours, elsewhere])),
        }
    ]


def test_one_reference_holding_two_forms_of_an_identifier_shares_it_with_none(engine, clean):
    record_id, batches = clean
    store_identifier(engine, reference_of(engine, batches[0].id, 1), "doi", "10.1000/ABC1")
    assert identifiers_unique(sql_units(engine), record_id).passed


def test_a_pubmed_id_with_leading_zeros_is_the_same_identifier(engine, clean):
    record_id, batches = clean
    store_identifier(engine, reference_of(engine, batches[0].id, 1), "pm_id", "77")
    store_identifier(engine, reference_of(engine, batches[0].id, 2), "pm_id", "0077")
    assert not identifiers_unique(sql_units(engine), record_id).passed


def test_an_openalex_id_stored_in_lower_case_is_the_same_identifier(engine, clean):
    # OpenAlex's canonical form is upper case ("W123"): a drifted "w123" shares it.
    record_id, batches = clean
    store_identifier(engine, reference_of(engine, batches[0].id, 1), "open_alex", "W123")
    store_identifier(engine, reference_of(engine, batches[0].id, 2), "open_alex", "w123")
    outcome = identifiers_unique(sql_units(engine), record_id)
    assert not outcome.passed
    assert outcome.metadata["samples"][0]["identifier"] == "open_alex:W123"


def test_canonical_openalex_ids_are_not_drifted_rows(engine, clean):
    record_id, batches = clean
    store_identifier(engine, reference_of(engine, batches[0].id, 1), "open_alex", "W123")
    store_identifier(engine, reference_of(engine, batches[0].id, 2), "open_alex", "W124")
    assert identifiers_unique(sql_units(engine), record_id).passed


def test_urls_that_differ_in_their_path_case_are_different_identifiers(engine, clean):
    record_id, batches = clean
    store_identifier(engine, reference_of(engine, batches[0].id, 1), "url", "https://x.org/A")
    store_identifier(engine, reference_of(engine, batches[0].id, 2), "url", "https://x.org/a")
    assert identifiers_unique(sql_units(engine), record_id).passed


# failed_share_below_threshold ------------------------------------------------------------


def test_a_failed_share_over_the_threshold_fails_its_check(engine, tmp_path):
    record_id, _ = imported(engine, write_source(tmp_path / "bad.jsonl", 40, invalid_every=4))
    outcome = failed_share_below_threshold(sql_units(engine), record_id, 0.05)
    assert not outcome.passed
    assert outcome.metadata["failed_share"] == 0.25
    assert outcome.metadata["threshold"] == 0.05
    assert (
        outcome.description
        == "25.0% of 40 lines failed or partially failed (over the threshold of 5.0%)"
    )
    samples = outcome.metadata["samples"]
    assert [sample["line"] for sample in samples] == [4, 8, 12, 16, 20, 24, 28, 32, 36, 40]
    assert samples[0]["status"] == "failed" and samples[0]["details"].startswith("Entry 4: ")
    assert failed_share_below_threshold(
        sql_units(engine), record_id, 0.25
    ).passed  # at most: passes
    assert not failed_share_below_threshold(sql_units(engine), record_id, 0.0).passed


def test_a_record_without_lines_has_no_failed_share(engine, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    record_id, _ = imported(engine, empty)
    outcome = failed_share_below_threshold(sql_units(engine), record_id, 0.0)
    assert outcome.passed and outcome.metadata["failed_share"] == 0.0
    assert results_complete(sql_units(engine), record_id).passed


def test_the_threshold_is_a_share(engine, clean):
    with pytest.raises(ValueError, match="from 0 to 1"):
        failed_share_below_threshold(sql_units(engine), clean[0], 5)
