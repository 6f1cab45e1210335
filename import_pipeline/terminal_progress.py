"""The progress bar that `import-pipeline import` and `rerun` show on a terminal.

A background thread reads the record's progress from the store twice a second
(`services.progress.RecordProgressReader`) and hands it to a rich progress bar: lines
settled of the total, lines/s, time left and the results by status. rich is already
installed with Dagster, renders well on any terminal and draws nothing when its console
is not a terminal.
"""

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import sqlalchemy as sa
import sqlalchemy.exc
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from import_pipeline.services.progress import RecordProgress, RecordProgressReader
from import_pipeline.store.engine import create_db_engine
from import_pipeline.store.unit_of_work import sql_units

POLL_SECONDS = 0.5
# Results by status, as shown after the bar: short names keep the bar on one line.
_SHOWN_STATUSES = {
    "completed": "ok",
    "partially_failed": "partly failed",
    "failed": "failed",
    "retrying": "retrying",
}


class _LinesPerSecond(ProgressColumn):
    """The recent rate, in lines per second."""

    def render(self, task: Task) -> Text:
        """`12,345 lines/s`, or a dash before there is a rate."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} lines/s" if speed else "- lines/s", style="progress.data.speed")


def _counts_text(progress: RecordProgress) -> str:
    return ", ".join(
        f"{label} {progress.counts[status]:,}"
        for status, label in _SHOWN_STATUSES.items()
        if progress.counts.get(status)
    )


@contextmanager
def record_progress_bar(database_url: str, record_id: uuid.UUID, stream: TextIO) -> Iterator[None]:
    """Show the record's progress on `stream` while the block runs (if it is a terminal).

    Reads go through an engine of their own that never waits for SQLite's writers.
    """
    console = Console(file=stream)
    if not console.is_terminal:
        yield
        return
    engine = create_db_engine(database_url, read_only=True)
    try:
        with _bar(engine, record_id, console):
            yield
    finally:
        engine.dispose()


@contextmanager
def _bar(engine: sa.Engine, record_id: uuid.UUID, console: Console) -> Iterator[None]:
    reader = RecordProgressReader(sql_units(engine), record_id)
    stop = threading.Event()
    columns = (
        BarColumn(bar_width=20),
        MofNCompleteColumn(),
        TextColumn("lines"),
        _LinesPerSecond(),
        TimeRemainingColumn(compact=True),
        TextColumn("{task.fields[counts]}"),
    )
    with Progress(*columns, console=console, refresh_per_second=4) as bar:
        task = bar.add_task("import", total=None, counts="")

        def refresh() -> None:
            try:
                progress = reader.read()
            except sqlalchemy.exc.SQLAlchemyError:
                return  # a busy or lost database: try again at the next tick
            total = progress.total_lines
            bar.update(task, completed=progress.settled, total=total, counts=_counts_text(progress))

        def poll() -> None:
            while not stop.wait(POLL_SECONDS):
                refresh()

        thread = threading.Thread(target=poll, name="progress", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()
            refresh()
