"""Batch steps on celery workers against the in-process run, on the same file, same run.

    uv run python -m benchmarks.scale_out --lines 100000 --batch-size 10000

Generates (or reuses) a seeded file, then imports it three times with
`import-pipeline import FILE --batch-size B --json`, each into a fresh PostgreSQL
database, all on one Dagster instance stored in PostgreSQL (as a deployment on several
machines has it):
1. in-process: the run's steps in the command's process (the default executor);
2. celery, 1 worker: `IMPORT_PIPELINE_EXECUTOR=celery`, one `import-pipeline worker`
   with one pool process, on a queue of this run's own on the local RabbitMQ;
3. celery, 2 workers: two such workers.
Every batch step runs in one process (`IMPORT_PIPELINE_BATCH_WORKERS=1`), so that the
workers, not a batch's own worker processes, decide how many cores are busy. Prints per
mode: wall time and lines/s (start-up included), the time covered by batch work, the
overhead per batch step (a step's wall time from its start event to its output, minus
the batch's own seconds), the run's overhead outside the batches, and how many batches
ran at once on average (the batches' own seconds over the time they covered). The workers are
started and ready before the clock starts: their start-up is the fleet's, not the run's.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance

from benchmarks.generate import generate
from benchmarks.run import ADMIN_URL, OUT, batch_seconds, fresh_database, run_import

BROKER = os.environ.get("IMPORT_PIPELINE_TEST_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
READY_SECONDS = 60
DAGSTER_YAML = Path(__file__).parents[1] / "import_pipeline" / "orchestration" / "dagster.yaml"


@dataclass(frozen=True)
class Measured:
    """One mode's import: its wall time, batch time and step overheads."""

    mode: str
    lines: int
    wall: float
    in_batches: float
    batch_work: float
    steps: int
    step_overhead: float

    def row(self) -> str:
        """The mode's line of the table."""
        return (
            f"{self.mode:<18} {self.lines / self.wall:>9,.0f} {self.wall:>7.1f} "
            f"{self.in_batches:>10.1f} {self.wall - self.in_batches:>9.1f} "
            f"{self.batch_work / self.in_batches:>8.2f} "
            f"{self.steps:>6} {self.step_overhead:>12.2f}"
        )


HEADER = (
    f"{'mode':<18} {'lines/s':>9} {'wall s':>7} {'batches s':>10} {'outside s':>9} "
    f"{'at once':>8} {'steps':>6} {'s per step':>12}"
)


def instance_home(root: Path, storage_url: str) -> Path:
    """A DAGSTER_HOME whose instance (runs, events, step outputs) is on `storage_url`."""
    home = root / "dagster_home"
    home.mkdir()
    shutil.copyfile(DAGSTER_YAML, home / "dagster.yaml")
    url = sa.make_url(storage_url).set(drivername="postgresql+psycopg2")
    with (home / "dagster.yaml").open("a") as config:
        config.write(
            f"storage:\n  postgres:\n    postgres_url: {url.render_as_string(hide_password=False)}\n"
        )
    return home


def batch_step_overhead(home: Path) -> tuple[int, float, float]:
    """The latest run's batch steps: count, mean wall time beyond their work, work in all.

    The work is the sum of the batches' own seconds.

    A step's wall time runs from its STEP_START event to its STEP_OUTPUT (the output
    carries the batch's own `seconds`): what remains is the executor's and the step's
    start-up (a worker's task set-up, resources, the batch look-ups).
    """
    os.environ["DAGSTER_HOME"] = str(home)
    try:
        with DagsterInstance.get() as instance:
            run = instance.get_runs(limit=1)[0]
            started: dict[str, float] = {}
            overheads: list[float] = []
            work = 0.0
            for entry in instance.all_logs(run.run_id):
                event = entry.dagster_event
                if event is None or "process_import_batch" not in (event.step_key or ""):
                    continue
                if event.event_type == DagsterEventType.STEP_START:
                    started[event.step_key] = entry.timestamp
                elif event.event_type == DagsterEventType.STEP_OUTPUT:
                    metadata = event.event_specific_data.metadata
                    if "seconds" in metadata and event.step_key in started:
                        wall = entry.timestamp - started[event.step_key]
                        overheads.append(wall - metadata["seconds"].value)
                        work += metadata["seconds"].value
    finally:
        del os.environ["DAGSTER_HOME"]
    mean = sum(overheads) / len(overheads) if overheads else 0.0
    return len(overheads), mean, work


def _clean_env() -> dict[str, str]:
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }


@contextmanager
def celery_workers(count: int, queue: str, logs: Path) -> Iterator[None]:
    """`count` workers of one pool process each on `queue`, ready; killed at the end."""
    env = _clean_env() | {
        "IMPORT_PIPELINE_CELERY_BROKER": BROKER,
        "IMPORT_PIPELINE_CELERY_QUEUE": queue,
        "IMPORT_PIPELINE_BATCH_WORKERS": "1",
    }
    command = [sys.executable, "-m", "import_pipeline.cli", "worker", "--concurrency", "1"]
    started: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for number in range(1, count + 1):
            log = logs / f"worker_{number}.log"
            name = f"bench{number}_{uuid.uuid4().hex[:6]}@%h"
            process = subprocess.Popen(
                [*command, "--name", name],
                env=env,
                stdout=log.open("w"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            started.append((process, log))
        deadline = time.monotonic() + READY_SECONDS
        for process, log in started:
            while "ready." not in log.read_text(errors="replace"):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"a worker did not start:\n{log.read_text()[-2000:]}")
                time.sleep(0.1)
        yield
    finally:
        for process, _ in started:
            if process.poll() is None:
                os.killpg(process.pid, 9)
            process.wait(10)


def measure(
    mode: str, source: Path, home: Path, *, prefix: str, batch_size: int, env: dict[str, str]
) -> Measured:
    """Import `source` into a fresh database with `env` set; measure the run."""
    url = fresh_database(f"{prefix}_{mode.replace(' ', '_').replace(',', '')}")
    wall, record = run_import(source, url, home, ["--batch-size", str(batch_size)], env)
    counts = record["results"]
    lines = sum(counts[key] for key in ("completed", "partially_failed", "failed"))
    steps, overhead, work = batch_step_overhead(home)
    return Measured(mode, lines, wall, batch_seconds(home), work, steps, overhead)


def main() -> None:
    """Parse options, import the file in the three modes and print the table."""
    parser = argparse.ArgumentParser(description="Celery workers vs in-process, same file.")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=10_000)
    parser.add_argument("--out-dir", type=Path, default=OUT, help="where generated files go")
    parser.add_argument("--db-prefix", default="scale", help="prefix of the databases made")
    args = parser.parse_args()

    source = args.out_dir / f"bench_{args.lines}_{args.seed}.jsonl"
    if not source.exists():
        print(f"generating {source} ...", flush=True)
        generate(source, args.lines, args.seed)
    queue = f"import_pipeline_bench_{uuid.uuid4().hex[:8]}"
    one_process = {"IMPORT_PIPELINE_BATCH_WORKERS": "1"}
    celery = one_process | {
        "IMPORT_PIPELINE_EXECUTOR": "celery",
        "IMPORT_PIPELINE_CELERY_BROKER": BROKER,
        "IMPORT_PIPELINE_CELERY_QUEUE": queue,
    }
    results: list[Measured] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        home = instance_home(root, fresh_database(f"{args.db_prefix}_instance"))
        print("in-process ...", flush=True)
        results.append(
            measure(
                "in-process",
                source,
                home,
                prefix=args.db_prefix,
                batch_size=args.batch_size,
                env=one_process,
            )
        )
        for count in (1, 2):
            with celery_workers(count, queue, root):
                print(f"celery, {count} worker(s) ...", flush=True)
                mode = f"celery, {count} worker" + ("s" if count > 1 else "")
                results.append(
                    measure(
                        mode,
                        source,
                        home,
                        prefix=args.db_prefix,
                        batch_size=args.batch_size,
                        env=celery,
                    )
                )
    if len({measured.lines for measured in results}) != 1:
        raise SystemExit(f"the modes imported different line counts: {results}")
    print()
    print(HEADER)
    for measured in results:
        print(measured.row())
    first = results[0]
    for measured in results[1:]:
        print(f"{measured.mode}: {first.wall / measured.wall:.2f}x the in-process speed")
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        names = connection.exec_driver_sql(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"{args.db_prefix}_%",)
        ).scalars()
        for name in list(names):
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


if __name__ == "__main__":
    main()
