"""The deduplication step measured through the database: quality on truth sets, and speed.

    uv run python -m benchmarks.dedup_quality --database sqlite       # quality, real step
    uv run python -m benchmarks.dedup_quality --database postgresql
    uv run python -m benchmarks.dedup_step --repository 100000 --new 10000   # speed

Quality: each truth set is imported as one record into a fresh database through the
services (register, plan, process the batch, finalise: the import job's steps without
Dagster), the step (`services.deduplication.deduplicate_record`) decides its new
references, and each line's group is read back: its reference's canonical reference
(`duplicate_of`, or the reference itself). The time is the step's, per 10,000 lines.

Speed: a repository of `--repository` generated references (`benchmarks.generate`) is
imported and deduplicated once (and on PostgreSQL vacuumed and analysed, as autovacuum
would have), then a record of `--new` further generated references (other identifiers,
so all new) is imported; the step's references per second over that record is printed. A figure to read, never asserted by a test.
"""

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from benchmarks.generate import generate
from import_pipeline.domain.models import ImportRecord
from import_pipeline.services.batches import process_batch
from import_pipeline.services.deduplication import DeduplicationReport, deduplicate_record
from import_pipeline.services.finalise import finalise_record
from import_pipeline.services.planning import start_and_plan
from import_pipeline.services.registration import register_import
from import_pipeline.services.results_pages import all_results
from import_pipeline.services.unit_of_work import UnitOfWorkFactory
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.migrations import upgrade_schema
from import_pipeline.store.unit_of_work import sql_units

ADMIN_URL = os.environ.get(
    "IMPORT_PIPELINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def fresh_units(kind: str, directory: Path) -> UnitOfWorkFactory:
    """Units of work on a new, migrated database: `sqlite` (a file) or `postgresql`."""
    if kind == "sqlite":
        url = f"sqlite:///{directory / f'dedup-{uuid.uuid4().hex[:8]}.sqlite'}"
    else:
        from benchmarks.run import fresh_database  # noqa: PLC0415 (imports dagster)

        url = fresh_database(f"dedup_bench_{uuid.uuid4().hex[:8]}")
    engine = create_db_engine(url)
    upgrade_schema(engine)
    return sql_units(engine)


def import_file(units: UnitOfWorkFactory, path: Path, name: str) -> uuid.UUID:
    """Import `path` as one record through the services; the record's id."""
    record = ImportRecord(source_name=name, processor_name="benchmark", processor_version="1")
    register_import(units, record, [str(path)])
    for batch_id in start_and_plan(units, record.id, 1_000_000):
        process_batch(units, batch_id, chunk_size=2_000)
    finalise_record(units, record.id)
    return record.id


def groups_through_the_step(
    units: UnitOfWorkFactory, lines: Sequence[bytes], directory: Path, name: str
) -> tuple[dict[int, str], Counter[str], DeduplicationReport]:
    """Import `lines`, run the step, and read each line's group (line -> canonical id).

    A failed line is a group of its own; the counts are the lines' outcomes.
    """
    path = directory / f"{name}.jsonl"
    path.write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in lines))
    record_id = import_file(units, path, name)
    report = deduplicate_record(units, record_id)
    results = list(all_results(units, record_id))
    group_of: dict[int, str] = {}
    outcomes: Counter[str] = Counter()
    for result in results:
        if result.reference_id is None:
            group_of[result.line_number] = f"failed:{result.line_number}"
            outcomes["failed line"] += 1
            continue
        group_of[result.line_number] = str(result.duplicate_of or result.reference_id)
        outcomes["exact-identifier merge" if result.reference_created is False else "new"] += 1
    for determination, count in report.counts.items():
        if count:
            outcomes[f"decided {determination}"] = count
    return group_of, outcomes, report


def time_step(kind: str, repository: int, new: int) -> None:
    """Print the step's references/s over `new` references against `repository` ones."""
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        units = fresh_units(kind, directory)
        started = time.perf_counter()
        base = import_file(units, generate(directory / "repo.jsonl", repository), "repository")
        imported = time.perf_counter() - started
        first = deduplicate_record(units, base)
        print(
            f"repository: {repository:,} lines imported in {imported:.1f} s; step over them: "
            f"{first.references:,} references in {first.seconds:.1f} s (index pass "
            f"{first.index_seconds:.1f} s; {first.references_per_second:,.0f}/s)",
            flush=True,
        )
        if kind == "postgresql":
            maintain(units)
        path = generate(directory / "new.jsonl", new, seed=7, first=repository + 1)
        record = import_file(units, path, "new")
        report = deduplicate_record(units, record)
        again = deduplicate_record(units, record)
        print(
            f"new record: {report.references:,} new references against {first.references:,}: "
            f"{report.seconds:.2f} s (index pass {report.index_seconds:.2f} s), "
            f"{report.references_per_second:,.0f} references/s (target 5,000/s); "
            f"re-run {again.seconds:.2f} s, {again.changed} written; decisions {report.counts}",
            flush=True,
        )
        if kind == "postgresql":
            drop_database(units)


def maintain(units: UnitOfWorkFactory) -> None:
    """`VACUUM ANALYZE` the repository, as PostgreSQL's autovacuum (on by default) would have.

    A repository that new records arrive in has statistics and a visibility map (which
    index-only scans need); this machine's PostgreSQL runs with autovacuum off. The new
    record's own rows are left as they arrive, as they are when the step runs after an
    import's batches. (Vacuumed too, the step over them ran 15-20% faster.)
    """
    engine = units.engine  # type: ignore[attr-defined]  # SqlUnits; the port has none
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("VACUUM ANALYZE")
    print("repository: vacuumed and analysed (as autovacuum would have)", flush=True)


def drop_database(units: UnitOfWorkFactory) -> None:
    """Drop the benchmark's PostgreSQL database (made by `fresh_units`)."""
    import sqlalchemy as sa  # noqa: PLC0415

    engine = units.engine  # type: ignore[attr-defined]  # SqlUnits; the port has none
    name = engine.url.database
    engine.dispose()
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: the speed run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--repository", type=int, default=100_000)
    parser.add_argument("--new", type=int, default=10_000)
    args = parser.parse_args(argv)
    time_step(args.database, args.repository, args.new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
