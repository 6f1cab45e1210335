"""The `import-pipeline` command: import, rerun, status, results, serve, worker and more.

Exit status (the same for every command): 0 when the command did what it was asked (an
import whose record completed, even with failed lines); 1 when an import's record or
run failed (the summary and the reason are printed first); 2 for a usage or
configuration error (bad option or setting, missing source, unknown record, unusable
database or DAGSTER_HOME), printed as one `Error: ...` line on stderr, no traceback.
Output with `--json` is a stable interface (spec section 8).
"""

import gc
import json
import sys
import textwrap
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, nullcontext
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import sqlalchemy as sa
import sqlalchemy.exc

from import_pipeline.api.translate import (
    decision_read,
    record_cli_json,
    record_read,
    result_cli_json,
    result_read,
)
from import_pipeline.domain.errors import ImportPipelineError
from import_pipeline.domain.models import ImportBatch, ImportRecord
from import_pipeline.domain.statuses import ImportRecordStatus, ImportResultStatus, RunBy
from import_pipeline.error_map import EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, outcome_of
from import_pipeline.orchestration.instance import instance_home
from import_pipeline.services.batch_workers import start_worker_server
from import_pipeline.services.batches import worker_count
from import_pipeline.services.deduplication import deduplicate_record, record_person_decision
from import_pipeline.services.finalise import RecordSummary
from import_pipeline.services.planning import start_and_plan_batches
from import_pipeline.services.queries import record_report, record_summary
from import_pipeline.services.registration import register_import
from import_pipeline.services.results_pages import all_results
from import_pipeline.settings import get_settings
from import_pipeline.store.engine import create_db_engine, describe_url
from import_pipeline.store.errors import driver_message
from import_pipeline.store.migrations import upgrade_schema
from import_pipeline.store.unit_of_work import sql_units
from import_pipeline.terminal_progress import record_progress_bar

if TYPE_CHECKING:
    from dagster import DagsterInstance


class UsageError(click.ClickException):
    """A mistake of the user's (option, setting, source, record id): exit status 2."""

    exit_code = EXIT_USAGE


class RunFailedError(click.ClickException):
    """An import went wrong after its record was registered: exit status 1."""

    exit_code = EXIT_RUN_FAILED


_ERROR_FOR_EXIT = {EXIT_USAGE: UsageError, EXIT_RUN_FAILED: RunFailedError}


def _one_line(error: BaseException) -> str:
    """What the user reads about one of the project's errors."""
    if isinstance(error, sqlalchemy.exc.OperationalError):
        return f"cannot use the database: {driver_message(error)}"
    if isinstance(error, sqlalchemy.exc.ProgrammingError):
        return (
            f"database error ({driver_message(error)}); has `import-pipeline db upgrade` been run?"
        )
    return str(error)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Turn the project's errors into one line and the error map's exit status.

    An error the map does not know is a bug: it keeps its traceback.
    """
    try:
        yield
    except (
        ImportPipelineError,
        sqlalchemy.exc.OperationalError,
        sqlalchemy.exc.ProgrammingError,
    ) as error:
        outcome = outcome_of(error)
        if outcome is None:
            raise
        raise _ERROR_FOR_EXIT[outcome.exit_code](_one_line(error)) from None


class _Commands(click.Group):
    """The command group: every user error of every command ends as one line."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a usage error is one line that points at `--help`."""
        try:
            with _friendly_errors():
                return super().invoke(ctx)
        except click.UsageError as error:
            where = error.ctx.command_path if error.ctx else ctx.command_path
            raise UsageError(f"{error.format_message()} (see '{where} --help')") from None


def _non_blank(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """An option's text, refused when it is empty or only whitespace."""
    if value is not None and not value.strip():
        raise click.BadParameter("must not be blank")
    return value


def _engine() -> sa.Engine:
    return create_db_engine(get_settings().resolved_database_url)


def _dagster_home() -> Path:
    """DAGSTER_HOME, checked, or `<data dir>/dagster_home` with the project's dagster.yaml."""
    return instance_home(get_settings().data_dir)


def _open_instance() -> "DagsterInstance":
    """The Dagster instance of `_dagster_home()`, opened (and created) under its lock."""
    from import_pipeline.orchestration.instance import open_instance  # noqa: PLC0415 (slow)

    return open_instance(_dagster_home())


def _parse_record_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{value!r} is not an import record id (a UUID)") from None


def _print_summary(summary: RecordSummary, counts: dict[str, dict[str, int]]) -> None:
    record = summary.record
    click.echo(f"import record {record.id} ({record.source_name}): {record.status}")
    if record.failure_details:
        click.echo(f"  failure: {record.failure_details}")
    for batch in summary.batches:
        span = f" lines {batch.line_start}-{batch.line_end}" if batch.line_start else ""
        batch_total = sum(v for k, v in counts[str(batch.id)].items() if not k.startswith("ref"))
        click.echo(f"  batch {batch.id}{span}: {batch.status}, {batch_total} result(s)")
        if batch.failure_details:
            click.echo(f"    {batch.failure_details}")
    totals = {k: v for k, v in summary.counts.items() if v and not k.startswith("references_")}
    click.echo("  results: " + (", ".join(f"{k} {v}" for k, v in totals.items()) or "none"))
    click.echo(
        f"  references: {summary.counts['references_created']} created, "
        f"{summary.counts['references_matched']} matched"
    )
    if summary.decisions is not None and any(summary.decisions.values()):
        click.echo("  duplicates: " + ", ".join(f"{k} {v}" for k, v in summary.decisions.items()))
    elif summary.decisions is not None:
        click.echo(
            f"  duplicates: not decided (`import-pipeline dedupe {summary.record.id}`, "
            "or IMPORT_PIPELINE_DEDUPLICATE=true for every import)"
        )
    for sample in summary.failure_samples:
        click.echo(f"  {sample}")


@click.group(cls=_Commands)
def main() -> None:
    r"""Import DESTINY reference files into the reference repository.

    \b
    Exit status:
      0  done (an import's record completed, even if some lines failed)
      1  an import's record or run failed (summary and reason printed)
      2  usage or configuration error (one line on stderr)
    """


@main.group()
def db() -> None:
    """Manage the import and reference tables."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the import and reference tables (alembic migrations).

    Also creates the default Dagster instance (`<data dir>/dagster_home` with the
    project's dagster.yaml) when DAGSTER_HOME is not set.
    """
    engine = _engine()
    upgrade_schema(engine)
    home = _dagster_home()
    click.echo(f"schema is up to date on {describe_url(engine)}; Dagster instance: {home}")


def _start_batch_workers_early(
    planned: list[ImportBatch], steps_at_once: int, workers: int
) -> None:
    """Start the batch workers' forkserver while the job loads, if this process will use it.

    It loads its modules on the other core meanwhile, instead of while the first batch
    waits; it is this process's only when the run's steps run here (in-process).
    """
    from import_pipeline.orchestration.executor import runs_steps_in_process  # noqa: PLC0415

    if runs_steps_in_process(steps_at_once) and any(
        worker_count(batch, workers) > 1 for batch in planned
    ):
        start_worker_server()


def _launch_and_report(
    engine: sa.Engine,
    record: ImportRecord,
    instance: "DagsterInstance",
    *,
    batch_size: int | None,
    concurrency: int | None,
    as_json: bool,
) -> int:
    """Run the import job for `record`'s partition, print the summary, return the exit status.

    On a terminal (and without `--json`) a progress bar follows the record meanwhile.
    """
    settings = get_settings()
    size = batch_size or settings.batch_size
    with _kept_for_rerun(engine, record):
        # Planned here, once: the run's plan step finds the ranges made and counts nothing.
        planned = start_and_plan_batches(sql_units(engine), record.id, size)
        steps_at_once = max(1, min(concurrency or settings.concurrency, len(planned)))
        _start_batch_workers_early(planned, steps_at_once, settings.batch_workers)
        from import_pipeline.orchestration.launch import run_import_job  # noqa: PLC0415 (slow)

        # What is loaded by now (Dagster, the project: most of the heap) lives until the
        # command exits. Frozen, the garbage collector skips it in the run's full
        # collections and at exit, where walking it took 0.4-0.5 s of every import.
        gc.freeze()
        url = settings.resolved_database_url
        with record_progress_bar(url, record.id, sys.stdout) if not as_json else nullcontext():
            outcome = run_import_job(
                record.id,
                instance,
                source_name=record.source_name,
                database_url=url,
                batch_size=size,
                chunk_size=settings.chunk_size,
                concurrency=steps_at_once,
            )
        report = record_report(sql_units(engine), record.id)
        summary, counts = report.summary, report.batch_counts
    if as_json:
        click.echo(json.dumps(record_cli_json(record_read(summary, counts)), indent=2))
    else:
        _print_summary(summary, counts)
    status = summary.record.status
    if outcome.success and status != ImportRecordStatus.FAILED:
        return EXIT_OK
    if not outcome.success:
        click.echo(f"error: the import run {outcome.run_id} failed: {outcome.failure}", err=True)
        if status in {ImportRecordStatus.CREATED, ImportRecordStatus.STARTED}:
            click.echo(_left_open(record.id, status), err=True)
    return EXIT_RUN_FAILED


def _left_open(record_id: uuid.UUID, status: str) -> str:
    """What happens to a record that an `import` or `rerun` left unfinished."""
    return (
        f"import record {record_id} is left {status}: no sensor imports it on its own; "
        f"`import-pipeline rerun {record_id}` finishes it"
    )


@contextmanager
def _kept_for_rerun(engine: sa.Engine, record: ImportRecord) -> Iterator[None]:
    """After registration, a user error says that the record is kept for a rerun (exit 1)."""
    try:
        with _friendly_errors():
            yield
    except (UsageError, RunFailedError) as error:
        try:  # planning may have started it meanwhile
            status = record_summary(sql_units(engine), record.id).record.status
        except sqlalchemy.exc.SQLAlchemyError:
            status = record.status
        raise RunFailedError(f"{error.message}; {_left_open(record.id, str(status))}") from None


def _register(
    sources: list[str], source_name: str, fields: dict[str, Any], run_by: RunBy
) -> tuple[sa.Engine, ImportRecord]:
    """Apply migrations, then register one record (this CLI as its processor)."""
    engine = _engine()
    upgrade_schema(engine)
    record = ImportRecord(
        source_name=source_name,
        processor_name="import-pipeline",
        processor_version=_version(),
        run_by=run_by,
        **fields,
    )
    register_import(sql_units(engine), record, sources)
    return engine, record


def run_import(
    sources: list[str],
    *,
    source_name: str,
    batch_size: int | None,
    as_json: bool,
    concurrency: int | None = None,
    record_fields: dict[str, Any] | None = None,
) -> int:
    """Register one record for `sources`, run the import job for it, print the summary.

    Everything that can be checked before the record is registered is (settings,
    DAGSTER_HOME, the database, the sources); the record is the command's own
    (`run_by == command`), so that no sensor imports it if this command dies.
    """
    instance = _open_instance()
    engine, record = _register(sources, source_name, record_fields or {}, RunBy.COMMAND)
    return _launch_and_report(
        engine, record, instance, batch_size=batch_size, concurrency=concurrency, as_json=as_json
    )


def _version() -> str:
    from importlib.metadata import version  # noqa: PLC0415

    return version("import-pipeline")


@main.command("import")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--source-name", required=True, callback=_non_blank, help="Where the references come from."
)
@click.option("--batch-size", type=click.IntRange(min=1), help="Lines per batch.")
@click.option("--search-string", help="The search that found the references.")
@click.option("--expected-count", type=click.IntRange(min=-1), default=-1, help="-1: unknown.")
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    help="Batches processed at once, each in its own step process (default 1: in-process).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def import_command(  # noqa: PLR0917 (click passes options positionally by name)
    sources: tuple[str, ...],
    source_name: str,
    batch_size: int | None,
    search_string: str | None,
    expected_count: int,
    concurrency: int | None,
    as_json: bool,
) -> None:
    """Import SOURCE files or URLs as one import record, and print its summary.

    On a terminal a progress bar shows the lines settled, lines/s, time left and the
    results by status (not with --json, nor when the output is not a terminal). If the
    run fails, the record is left for `import-pipeline rerun`; no sensor runs it.

    Exit status: 0 the record completed (some lines may have failed); 1 the record or
    its run failed; 2 usage or configuration error.
    """
    fields = {"search_string": search_string, "expected_reference_count": expected_count}
    code = run_import(
        list(sources),
        source_name=source_name,
        batch_size=batch_size,
        as_json=as_json,
        concurrency=concurrency,
        record_fields=fields,
    )
    sys.exit(code)


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--source-name", required=True, callback=_non_blank, help="Where the references come from."
)
@click.option("--search-string", help="The search that found the references.")
@click.option("--expected-count", type=click.IntRange(min=-1), default=-1, help="-1: unknown.")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def register(
    sources: tuple[str, ...],
    source_name: str,
    search_string: str | None,
    expected_count: int,
    as_json: bool,
) -> None:
    """Register SOURCE files or URLs as one import record, without running it.

    Adds the record's partition to the Dagster instance, so that `dagster job execute`,
    `dagster job backfill`, the UI or the `registered_batches_sensor` can run it. Prints
    the record id (or the record as JSON).
    """
    from import_pipeline.orchestration.partitions import add_partition  # noqa: PLC0415 (slow)

    instance = _open_instance()
    fields = {"search_string": search_string, "expected_reference_count": expected_count}
    engine, record = _register(list(sources), source_name, fields, RunBy.DAEMON)
    add_partition(record.id, instance)
    summary = record_summary(sql_units(engine), record.id)
    if as_json:
        click.echo(json.dumps(record_cli_json(record_read(summary)), indent=2))
    else:
        click.echo(str(record.id))


@main.command()
@click.argument("record_id")
@click.option("--batch-size", type=click.IntRange(min=1), help="Lines per batch (new splits).")
@click.option("--concurrency", type=click.IntRange(min=1), help="Batches processed at once.")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def rerun(record_id: str, batch_size: int | None, concurrency: int | None, as_json: bool) -> None:
    """Run the import job again for an existing record: finish what a failed run left.

    Lines that already have a final result are skipped, so nothing is imported twice.

    Exit status: 0 the record completed (or, made over HTTP, awaits its importer's
    finalise); 1 the record or its run failed; 2 usage or configuration error.
    """
    parsed = _parse_record_id(record_id)
    instance = _open_instance()
    engine = _engine()
    record = record_summary(sql_units(engine), parsed).record
    code = _launch_and_report(
        engine, record, instance, batch_size=batch_size, concurrency=concurrency, as_json=as_json
    )
    sys.exit(code)


@main.command()
def demo() -> None:
    """Import the bundled sample on the embedded default and print the summary."""
    sample = resources.files("import_pipeline.samples") / "demo.jsonl"
    with resources.as_file(sample) as path:
        click.echo(
            f"importing the bundled sample {path.name} (50 lines, some malformed on purpose)"
        )
        code = run_import([str(path)], source_name="demo", batch_size=None, as_json=False)
    click.echo(f"database: {describe_url(_engine())}; Dagster instance: {_dagster_home()}")
    sys.exit(code)


@main.command()
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def status(record_id: str, as_json: bool) -> None:
    """Show a record, its batches with statuses and its results counted by status."""
    parsed = _parse_record_id(record_id)
    engine = _engine()
    report = record_report(sql_units(engine), parsed)
    summary, counts = report.summary, report.batch_counts
    if as_json:
        click.echo(json.dumps(record_cli_json(record_read(summary, counts)), indent=2))
    else:
        _print_summary(summary, counts)


@main.command()
@click.argument("record_id")
@click.option(
    "--status",
    "status_filter",
    type=click.Choice([str(s) for s in ImportResultStatus]),
    help="Only results with this status.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
def results(record_id: str, status_filter: str | None, as_json: bool) -> None:
    """List a record's results (one per non-blank source line).

    Results are read a page at a time and printed as they come, so memory stays flat
    however many lines the record has.
    """
    parsed = _parse_record_id(record_id)
    status = ImportResultStatus(status_filter) if status_filter else None
    rows = all_results(sql_units(_engine()), parsed, status=status)
    if as_json:
        _echo_json_array(result_cli_json(result_read(row)) for row in rows)
        return
    for row in rows:
        reference = row.reference_id or "-"
        details = f"  {row.failure_details}" if row.failure_details else ""
        click.echo(
            f"{row.import_batch_id} line {row.line_number}: {row.status} {reference}{details}"
        )


@main.command()
@click.argument("record_id")
@click.option("--json", "as_json", is_flag=True, help="Print the record as JSON.")
def dedupe(record_id: str, as_json: bool) -> None:
    """Decide a record's new references against the repository (probable duplicates).

    The import's deduplication step, run again over an existing record (one imported
    before the step existed, say): idempotent, a person's decision is kept. Runs in this
    process through the services, without a Dagster run.
    """
    parsed = _parse_record_id(record_id)
    engine = _engine()
    upgrade_schema(engine)
    report = deduplicate_record(sql_units(engine), parsed)
    summary = record_report(sql_units(engine), parsed)
    if as_json:
        record = record_read(summary.summary, summary.batch_counts)
        click.echo(json.dumps(record_cli_json(record), indent=2))
        return
    click.echo(
        f"import record {parsed}: {report.references} new reference(s) in "
        f"{report.seconds:.2f} s ({report.references_per_second:,.0f}/s; index pass "
        f"{report.index_seconds:.2f} s), {report.changed} decision(s) written, {report.kept} kept"
    )
    click.echo("  duplicates: " + ", ".join(f"{k} {v}" for k, v in report.counts.items()))


def _parse_reference_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise UsageError(f"{value!r} is not a reference id (a UUID)") from None


@main.command()
@click.argument("reference_id")
@click.option("--duplicate-of", "duplicate_of", help="The reference it duplicates.")
@click.option("--canonical", is_flag=True, help="The reference stands for itself.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision as JSON.")
def decide(reference_id: str, duplicate_of: str | None, canonical: bool, as_json: bool) -> None:
    """Record a person's deduplication decision on a reference.

    Exactly one of --duplicate-of and --canonical. A duplicate points at the canonical
    reference of the named one's group. No automatic decision replaces it.
    """
    if (duplicate_of is None) == (not canonical):
        raise UsageError("give exactly one of --duplicate-of REFERENCE_ID and --canonical")
    parsed = _parse_reference_id(reference_id)
    target = _parse_reference_id(duplicate_of) if duplicate_of is not None else None
    engine = _engine()
    upgrade_schema(engine)
    decision = record_person_decision(sql_units(engine), parsed, duplicate_of=target)
    if as_json:
        click.echo(json.dumps(decision_read(decision).model_dump(mode="json"), indent=2))
        return
    pointer = f" of {decision.duplicate_of}" if decision.duplicate_of else ""
    click.echo(f"reference {parsed}: {decision.determination}{pointer} (decided by a person)")


def _echo_json_array(items: Iterable[dict[str, Any]]) -> None:
    """Print a JSON array item by item, as `json.dumps(list(items), indent=2)` would."""
    first = True
    for item in items:
        text = textwrap.indent(json.dumps(item, indent=2), "  ")
        click.echo(("[\n" if first else ",\n") + text, nl=False)
        first = False
    click.echo("[]" if first else "\n]")


@main.command()
@click.option(
    "--concurrency",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Steps run at once (worker processes); a batch step already uses every core.",
)
@click.option("--name", help="The worker's node name (default: celery@<host>).")
def worker(concurrency: int, name: str | None) -> None:
    """Run a celery worker for this deployment's import steps, until stopped.

    It serves IMPORT_PIPELINE_CELERY_QUEUE on IMPORT_PIPELINE_CELERY_BROKER, results to
    IMPORT_PIPELINE_CELERY_BACKEND: the same settings as the runs that send steps there
    (IMPORT_PIPELINE_EXECUTOR=celery). It takes one step at a time per process and
    acknowledges it once run, so a step whose worker dies goes to another worker. Start
    as many as you like, on any machine that reaches the broker, the database and the
    Dagster instance's storage. Needs the `celery` extra.
    """
    from import_pipeline.orchestration.executor import (  # noqa: PLC0415 (slow)
        CELERY_EXTRA_MISSING,
        celery_extra_installed,
    )

    settings = get_settings()
    if not celery_extra_installed():
        raise UsageError(CELERY_EXTRA_MISSING)
    from import_pipeline.orchestration.celery_steps import (  # noqa: PLC0415 (the extra)
        CeleryOptions,
        run_worker,
    )

    run_worker(CeleryOptions.from_settings(settings), concurrency=concurrency, name=name)


_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
def serve(host: str, port: int) -> None:
    """Serve the HTTP API (OpenAPI document at /openapi.json, docs at /docs).

    Needs bearer tokens in IMPORT_PIPELINE_API_TOKENS, except on a loopback address,
    where the API may run without authentication. The API registers records and batches;
    the Dagster daemon's `registered_batches_sensor` runs them.
    """
    import uvicorn  # noqa: PLC0415 (only this command serves)

    from import_pipeline.api.app import app_from_settings  # noqa: PLC0415

    settings = get_settings()
    if not settings.api_token_list:
        if host not in _LOOPBACK_HOSTS:
            raise UsageError(
                f"refusing to serve on {host} without authentication: set "
                "IMPORT_PIPELINE_API_TOKENS, or serve on 127.0.0.1"
            )
        click.echo("warning: IMPORT_PIPELINE_API_TOKENS is not set; no authentication", err=True)
    app = app_from_settings(settings)
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":
    main(prog_name="import-pipeline")
