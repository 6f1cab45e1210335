"""A peer in the benchmark: dlt's default PostgreSQL load of the same file.

dlt (the `bench` dependency group: `uv sync --group bench`) is a general-purpose loader.
Loaded with its defaults, the file's parsed JSON lines become a `references` table and
child tables for the nested lists (identifiers, enhancements, authors), with dlt's own
normalisation, schema inference and load jobs. It keeps no per-line result and merges
no duplicates, so it does less than the pipeline; lines that are not JSON are skipped
(dlt would stop on them). What it does, it does with its defaults: that is the
comparison the benchmark prints.
"""

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa


def dlt_installed() -> bool:
    """Whether the `bench` group (dlt) is installed here."""
    return importlib.util.find_spec("dlt") is not None


def _records(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as lines:
        for line in lines:
            if line.strip():
                try:
                    record = orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(record, dict):
                    yield record


def run_dlt(database_url: str, path: Path, work_dir: Path) -> tuple[int, float]:
    """Load `path` with dlt's defaults into `database_url`; return (rows loaded, seconds).

    The rows are counted in the top-level table after the load; the seconds are the
    pipeline's `run` (extract, normalise, load), dlt's start-up included.
    """
    import dlt  # noqa: PLC0415 (optional: the bench group)

    url = sa.make_url(database_url)
    # dlt insists on a password; a server with trust auth never asks for it.
    credentials = url.set(drivername="postgresql", password=url.password or "unused")
    credentials_url = credentials.render_as_string(hide_password=False)
    started = time.perf_counter()
    pipeline = dlt.pipeline(
        pipeline_name="import_pipeline_peer",
        destination=dlt.destinations.postgres(credentials=credentials_url),
        dataset_name="peer",
        pipelines_dir=str(work_dir),
    )
    pipeline.run(_records(path), table_name="references")
    seconds = time.perf_counter() - started
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.text('SELECT count(*) FROM peer."references"')).scalar_one()
    engine.dispose()
    return int(rows), seconds
