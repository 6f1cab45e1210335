"""One hostile line among thousands of real ones fails alone: never its chunk, batch or record.

Each test hides one poisoned line (a wrong type, a value the stores cannot hold, or one
the database refuses for a reason validation cannot know) in 2,500 real lines and runs
the real batch processing on SQLite and PostgreSQL. Every good line must end
`completed`, the poisoned one `failed` or `partially_failed` with `Entry <n>:` and a
reason naming what is wrong, and the batch and the record carry on. These lines used to
raise `TypeError: unhashable type` in the batch, or fail a whole chunk on PostgreSQL
with `InFailedSqlTransaction`.
"""

import copy
import json
import random
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from import_pipeline.domain.models import ImportRecord
from import_pipeline.domain.statuses import ImportBatchStatus, ImportRecordStatus
from import_pipeline.domain.statuses import ImportResultStatus as S
from import_pipeline.references.queries import owner_of
from import_pipeline.references.writers import PostgresWriter
from import_pipeline.services.batches import process_batch
from import_pipeline.services.finalise import RecordSummary, finalise_record
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.store.errors import describe_db_error, is_data_rejection
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline_tests.data_files import open_plain, real_file
from import_pipeline_tests.store_access import repository

GOOD_LINES = 2_500
POISON_LINE = 1_234  # the poisoned line's number in the source
CHUNK_SIZE = 500

Record = dict[str, Any]


def good_lines() -> list[bytes]:
    """2,500 real lines that all import `completed` (some merge: still completed)."""
    with open_plain(real_file("bib_dedupe_digital_work.jsonl.gz")) as handle:
        lines = [line for line in handle if line.strip()]
    return lines[:GOOD_LINES]


def rich_record() -> Record:
    """A real record with identifiers of three types and five enhancements.

    identifiers: 0 open_alex, 1 doi, 2 pm_id; enhancements: 0 bibliographic, 1 abstract,
    2 location, 3 and 4 annotation.
    """
    with open_plain(real_file("synergy_Sep_2021.jsonl.gz")) as handle:
        record = json.loads(handle.readline())
    kinds = [e["content"]["enhancement_type"] for e in record["enhancements"]]
    assert kinds == ["bibliographic", "abstract", "location", "annotation", "annotation"]
    assert [i["identifier_type"] for i in record["identifiers"]] == ["open_alex", "doi", "pm_id"]
    return record


def import_source(engine: sa.Engine, lines: list[bytes], tmp_path: Path) -> RecordSummary:
    source = tmp_path / "poisoned.jsonl"
    source.write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in lines))
    record, _ = register_import(
        sql_units(engine),
        ImportRecord(source_name="poison", processor_name="tests", processor_version="1"),
        [str(source)],
    )
    for batch_id in start_and_plan(sql_units(engine), record.id, 50_000):
        process_batch(sql_units(engine), batch_id, chunk_size=CHUNK_SIZE, writers=2)
    return finalise_record(sql_units(engine), record.id)


def import_with_poison(engine, tmp_path, poisoned: list[bytes]) -> tuple[RecordSummary, dict]:
    """Import the good lines with `poisoned` inserted from line `POISON_LINE` on."""
    good = good_lines()
    lines = good[: POISON_LINE - 1] + poisoned + good[POISON_LINE - 1 :]
    summary = import_source(engine, lines, tmp_path)
    with repository(engine) as imports:
        results = {r.line_number: r for r in imports.list_results(record_id=summary.record.id)}
    assert len(results) == len(lines)
    return summary, results


def mutate(change: Callable[[Record], None]) -> bytes:
    record = copy.deepcopy(rich_record())
    change(record)
    return json.dumps(record).encode()


def nested(depth: int) -> object:
    value: object = "bottom"
    for _ in range(depth):
        value = {"level": value}
    return value


def random_doi(length: int) -> str:
    """A DOI of `length` characters that does not compress (a repeated one would fit)."""
    rng = random.Random(length)
    return "10.9999/" + "".join(rng.choices(string.ascii_letters + string.digits, k=length - 8))


def setter(*path: str | int, value: object) -> Callable[[Record], None]:
    """A change that sets `record[path[0]][path[1]]...` to `value`."""

    def change(record: Record) -> None:
        target: Any = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def appender(*path: str | int, suffix: str) -> Callable[[Record], None]:
    def change(record: Record) -> None:
        target: Any = record
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] += suffix

    return change


def add_identifier(identifier: Record) -> Callable[[Record], None]:
    return lambda record: record["identifiers"].append(identifier)


LONG_DOI = random_doi(4_096)

# (change, status of the poisoned line, a fragment its details must hold)
POISONS = {
    # A list or an object where a string choice is expected (used to raise TypeError).
    "visibility is a list": (
        setter("visibility", value=[]),
        S.FAILED,
        "visibility: expected one of",
    ),
    "identifier_type is a list": (
        setter("identifiers", 1, "identifier_type", value=["doi"]),
        S.PARTIALLY_FAILED,
        "identifiers[1]: identifier_type: expected one of",
    ),
    "enhancement visibility is an object": (
        setter("enhancements", 1, "visibility", value={"public": True}),
        S.PARTIALLY_FAILED,
        "enhancements[1]: visibility: expected one of",
    ),
    "enhancement_type is an object": (
        setter("enhancements", 2, "content", "enhancement_type", value={"type": "location"}),
        S.PARTIALLY_FAILED,
        "enhancements[2]: content.enhancement_type: expected one of",
    ),
    # Wrong types at several field paths.
    "identifiers is a string": (
        setter("identifiers", value="10.1000/x"),
        S.FAILED,
        "identifiers: expected a list, got string",
    ),
    "enhancements is an object": (
        setter("enhancements", value={"0": {}}),
        S.FAILED,
        "enhancements: expected a list, got object",
    ),
    "other_identifier_name is a number": (
        add_identifier({"identifier_type": "other", "identifier": "x", "other_identifier_name": 7}),
        S.PARTIALLY_FAILED,
        "identifiers[3]: other_identifier_name: expected a string, got integer",
    ),
    "author name is a number": (
        setter("enhancements", 0, "content", "authorship", 0, "display_name", value=42),
        S.PARTIALLY_FAILED,
        "enhancements[0]: bibliographic enhancement: content.authorship[0].display_name: "
        "expected a string, got integer",
    ),
    "volume is a list": (
        setter("enhancements", 0, "content", "pagination", "volume", value=["5"]),
        S.PARTIALLY_FAILED,
        "content.pagination.volume: expected a string, got list",
    ),
    "issn is a string": (
        setter("enhancements", 0, "content", "publication_venue", "issn", value="2046-4053"),
        S.PARTIALLY_FAILED,
        "content.publication_venue.issn: expected a list, got string",
    ),
    "is_oa is a string": (
        setter("enhancements", 2, "content", "locations", 0, "is_oa", value="yes"),
        S.PARTIALLY_FAILED,
        "enhancements[2]: location enhancement: content.locations[0].is_oa: "
        "expected true or false, got string",
    ),
    "annotation score is a string": (
        setter("enhancements", 3, "content", "annotations", 0, "score", value="0.9"),
        S.PARTIALLY_FAILED,
        "content.annotations[0].score: expected a number, got string",
    ),
    "content is a list": (
        setter("enhancements", 1, "content", value=[]),
        S.PARTIALLY_FAILED,
        "enhancements[1]: content: expected an object, got list",
    ),
    # Values the stores cannot hold (PostgreSQL refused them and failed the chunk).
    "NUL in a DOI": (
        appender("identifiers", 1, "identifier", suffix="\x00"),
        S.PARTIALLY_FAILED,
        "identifiers[1]: doi identifier '10.",
    ),
    "NUL in an abstract": (
        setter("enhancements", 1, "content", "abstract", value="Before\x00after."),
        S.PARTIALLY_FAILED,
        "enhancements[1]: abstract enhancement: content.abstract: holds a NUL character",
    ),
    "NUL in a key deep in annotation data": (
        setter("enhancements", 3, "content", "annotations", 0, "data", "k\x00", value=1),
        S.PARTIALLY_FAILED,
        "content.annotations[0].data['k\\x00']: holds a NUL character",
    ),
    "NUL in an other_identifier_name": (
        add_identifier(
            {"identifier_type": "other", "identifier": "x", "other_identifier_name": "n\x00"}
        ),
        S.PARTIALLY_FAILED,
        "identifiers[3]: other identifier 'x' holds a NUL character",
    ),
    "NUL in an enhancement source": (
        setter("enhancements", 4, "source", value="synergy\x00"),
        S.PARTIALLY_FAILED,
        "enhancements[4]: source: holds a NUL character",
    ),
    "DOI of 4 KB": (
        setter("identifiers", 1, "identifier", value=LONG_DOI),
        S.PARTIALLY_FAILED,
        f"identifiers[1]: doi identifier {LONG_DOI[:40]!r}… (4,096 characters) "
        "is too long: 4,100 bytes as stored (at most 1,000)",  # with its 'doi:' prefix
    ),
    "pm_id beyond a bigint": (
        setter("identifiers", 2, "identifier", value=2**63),
        S.PARTIALLY_FAILED,
        "identifiers[2]: invalid pm_id 9223372036854775808: out of range",
    ),
    "pm_id of 5,000 digits": (
        setter("identifiers", 2, "identifier", value="9" * 5_000),
        S.PARTIALLY_FAILED,
        "identifiers[2]: invalid pm_id '9999",
    ),
    "cited_by_count beyond 64 bits": (
        setter("enhancements", 0, "content", "cited_by_count", value=2**64 - 1),
        S.PARTIALLY_FAILED,
        "content.cited_by_count: 18446744073709551615 is out of range",
    ),
    "location extra nested 300 deep": (
        setter("enhancements", 2, "content", "locations", 0, "extra", value=nested(300)),
        S.PARTIALLY_FAILED,
        "enhancements[2]: location enhancement: content.locations: nests deeper than 64 levels",
    ),
}


@pytest.mark.parametrize(("change", "status", "fragment"), POISONS.values(), ids=POISONS.keys())
def test_a_poisoned_line_fails_alone(engine, tmp_path, change, status, fragment):
    summary, results = import_with_poison(engine, tmp_path, [mutate(change)])

    poisoned = results.pop(POISON_LINE)
    assert poisoned.status == status, poisoned.failure_details
    assert poisoned.failure_details.startswith(f"Entry {POISON_LINE}: ")
    assert fragment in poisoned.failure_details
    assert len(poisoned.failure_details) < 600  # an excerpt, never the whole value
    if status == S.PARTIALLY_FAILED:
        assert poisoned.reference_id is not None  # imported without what was dropped
    assert {r.status for r in results.values()} == {S.COMPLETED}
    assert summary.counts["completed"] == GOOD_LINES
    assert summary.batches[0].status == ImportBatchStatus.PARTIALLY_FAILED
    assert summary.record.status == ImportRecordStatus.COMPLETED


REFUSED_DOIS = ("10.9999/refused-1", "10.9999/refused-2", "10.9999/refused-3")


def refuse_on_insert(engine: sa.Engine) -> str:
    """Make the database refuse the identifiers `REFUSED_DOIS`, as validation cannot know.

    PostgreSQL gets a CHECK constraint, SQLite (which cannot add one) a trigger; both
    are errors of the data, not of the statement. Returns the name the reason carries.
    """
    keys = ", ".join(f"'doi:{doi}'" for doi in REFUSED_DOIS)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "ALTER TABLE external_identifier ADD CONSTRAINT refused_identifier "
                f"CHECK (identifier_key NOT IN ({keys}))"
            )
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER refused_identifier BEFORE INSERT ON external_identifier "
                f"WHEN NEW.identifier_key IN ({keys}) "
                "BEGIN SELECT RAISE(ABORT, 'refused_identifier: not here'); END"
            )
    return "refused_identifier"


def refused_line(doi: str) -> bytes:
    return mutate(setter("identifiers", value=[{"identifier_type": "doi", "identifier": doi}]))


def test_lines_the_database_refuses_fail_alone_with_its_reason(engine, tmp_path):
    """The safety net: a refused chunk is split until the refused lines are alone.

    Two refused lines sit next to each other (one chunk) and a third 1,000 lines later.
    """
    reason = refuse_on_insert(engine)
    good = good_lines()
    lines = [
        *good[:1_000],
        refused_line(REFUSED_DOIS[0]),
        refused_line(REFUSED_DOIS[1]),
        *good[1_000:2_000],
        refused_line(REFUSED_DOIS[2]),
        *good[2_000:],
    ]
    summary = import_source(engine, lines, tmp_path)
    with repository(engine) as imports:
        results = {r.line_number: r for r in imports.list_results(record_id=summary.record.id)}

    refused = {1_001, 1_002, 2_003}
    assert len(results) == len(lines)
    for number in refused:
        result = results.pop(number)
        assert result.status == S.FAILED
        assert result.reference_id is None
        assert result.failure_details.startswith(f"Entry {number}: failed: ")
        assert reason in result.failure_details
        assert "InFailedSqlTransaction" not in result.failure_details
    assert {r.status for r in results.values()} == {S.COMPLETED}
    assert summary.counts["completed"] == GOOD_LINES
    assert summary.record.status == ImportRecordStatus.COMPLETED
    with engine.connect() as connection:
        assert all(owner_of(connection, f"doi:{doi}") is None for doi in REFUSED_DOIS)


@pytest.mark.postgres
def test_an_error_that_is_no_lines_fault_still_fails_the_step(pg_engine, tmp_path):
    """Only a refusal of data is split: "disk full" on one insert is not the line's fault.

    The chunk's lines are all `failed` with the cause, none singled out, and the error
    comes out of the batch as before.
    """
    with pg_engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE FUNCTION disk_on_fire() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'disk on fire' USING ERRCODE = 'disk_full'; END $$"
        )
        connection.exec_driver_sql(
            "CREATE TRIGGER disk_on_fire BEFORE INSERT ON external_identifier FOR EACH ROW "
            f"WHEN (NEW.identifier_key = 'doi:{REFUSED_DOIS[0]}') EXECUTE FUNCTION disk_on_fire()"
        )
    good = good_lines()
    lines = [*good[:1_000], refused_line(REFUSED_DOIS[0]), *good[1_000:]]
    with pytest.raises(Exception, match="disk on fire"):
        import_source(pg_engine, lines, tmp_path)
    with repository(pg_engine) as imports:
        failed = imports.list_results(status=S.FAILED)
    assert len(failed) > 1
    assert all("DiskFull [53100]: disk on fire" in r.failure_details for r in failed)


@pytest.mark.postgres
def test_a_refused_look_up_raises_the_databases_own_error(pg_engine):
    """The error of the identifier look-up itself comes out, so it can be told apart.

    Validation keeps a NUL from getting this far; sent anyway, it used to come out as
    `InFailedSqlTransaction`, raised by the clean-up after the look-up, which is not
    the data's fault and so could not be narrowed down to a line.
    """
    with pytest.raises(psycopg.Error) as raised, pg_engine.begin() as connection:
        PostgresWriter(connection).lookup_owners(["doi:10.9999/a\x00b"])
    assert is_data_rejection(raised.value)
    assert "InFailedSqlTransaction" not in describe_db_error(raised.value)
