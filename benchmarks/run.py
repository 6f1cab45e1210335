"""One command: the same-run COPY baseline against the real import, on the same file.

    uv run python -m benchmarks.run --lines 100000

Generates (or reuses) a seeded file, then on fresh PostgreSQL databases:
1. the baseline: raw binary COPY of the rows, no validation, no de-duplication;
2. the product: `import-pipeline import FILE` as a subprocess (start-up included);
3. the same file imported again as a new record (all lines already present);
and, when the `bench` group is installed, dlt's default load of the same file as a peer
(`benchmarks/dlt_peer.py`).
Prints lines/s of each, the ratio pipeline/baseline, the peak RSS of the import
command's largest process (its batch workers included), and the Dagster overhead (command wall time minus time spent in batches).
"""

import argparse
import ctypes
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance

from benchmarks.baseline import run_baseline
from benchmarks.dlt_peer import dlt_installed, run_dlt
from benchmarks.generate import SHAPES, generate
from benchmarks.memory import PeakMemory

OUT = Path(__file__).parent / "out"
ADMIN_URL = os.environ.get(
    "IMPORT_PIPELINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def fresh_database(name: str) -> str:
    """Drop and create database `name`; return its URL."""
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def batch_seconds(dagster_home: Path) -> float:
    """Wall time covered by batch processing in the latest run (union of intervals)."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    try:
        with DagsterInstance.get() as instance:
            run = instance.get_runs(limit=1)[0]
            intervals = []
            for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_OUTPUT):
                metadata = entry.dagster_event.event_specific_data.metadata
                if "seconds" in metadata and "lines_processed" in metadata:
                    seconds = metadata["seconds"].value
                    intervals.append((entry.timestamp - seconds, entry.timestamp))
    finally:
        del os.environ["DAGSTER_HOME"]
    covered, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop > end:
            covered += stop - max(start, end)
            end = stop
    return covered


# User + system CPU seconds of each `run_import`'s command and every process it waited
# for (step processes, batch workers): Python's work, which the machine's other load
# slows but does not add to, unlike wall time. PostgreSQL's own CPU is not included.
IMPORT_CPU_SECONDS: list[float] = []
# Peak RSS (KB) of the largest process of each `run_import`'s command (the command, its
# step processes and batch workers; not the baseline's or the peer's).
IMPORT_PEAK_RSS_KB: list[int] = []


def _children_cpu(not_from: frozenset[int] = frozenset()) -> float:
    _reap_orphans(not_from=not_from)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


_PR_SET_CHILD_SUBREAPER = 36  # linux/prctl.h


def become_subreaper() -> None:
    """Adopt the command's orphaned descendants, so that their CPU is counted too.

    The batch workers' forkserver outlives the command by a moment and is never waited
    for by it; as an orphan it would be reaped by init, its CPU (and its workers') lost
    to `RUSAGE_CHILDREN`. A subreaper adopts it instead, and `_reap_orphans` waits for it.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _forkservers() -> set[int]:
    """Pids of this process's children that are multiprocessing forkservers."""
    me = os.getpid()
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if int(stat[1]) == me and b"multiprocessing.forkserver" in command:
            found.add(int(entry.name))
    return found


def _reap_orphans(timeout: float = 10.0, *, not_from: frozenset[int] = frozenset()) -> None:
    """Wait for the adopted forkservers (each exits a moment after its command).

    Forkservers in `not_from` were there before the command started: they are not the
    command's and are left alone.
    """
    deadline = time.monotonic() + timeout
    for pid in _forkservers() - not_from:
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                break
            if done:
                break
            time.sleep(0.05)


def run_import(
    path: Path, url: str, home: Path, extra: list[str], settings: dict[str, str] | None = None
) -> tuple[float, dict]:
    """Run the `import` command (with `settings` in its environment); return (wall s, JSON)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAGSTER_")}
    env |= {"IMPORT_PIPELINE_DATABASE_URL": url, "DAGSTER_HOME": str(home), **(settings or {})}
    command = [
        sys.executable,
        "-m",
        "import_pipeline.cli",
        "import",
        str(path),
        "--source-name",
        "benchmark",
        "--json",
        *extra,
    ]
    earlier = frozenset(_forkservers())
    cpu_before, started = _children_cpu(earlier), time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err)
        with PeakMemory(process.pid, also=lambda: _forkservers() - earlier) as memory:
            process.wait()
            wall = time.perf_counter() - started
        IMPORT_PEAK_RSS_KB.append(memory.largest_kb)
        IMPORT_CPU_SECONDS.append(_children_cpu(earlier) - cpu_before)
        out.seek(0)
        err.seek(0)
        if process.returncode != 0:
            raise SystemExit(f"import failed:\n{err.read().decode()[-3000:]}")
        return wall, json.loads(out.read())


def _run_peer(source: Path, prefix: str) -> tuple[int, float] | None:
    """The dlt peer: its default load of `source` into a fresh database, if installed."""
    if not dlt_installed():
        return None
    print("peer: dlt's default load ...", flush=True)
    with tempfile.TemporaryDirectory() as work:
        return run_dlt(fresh_database(f"{prefix}_dlt"), source, Path(work))


def _peer_rows(peer: tuple[int, float] | None, lines: int, rate: float) -> list[tuple[str, str]]:
    """The dlt peer's lines of the table: its rate on the same file, and ours against it."""
    if peer is None:
        why = "left out (--skip-dlt)" if dlt_installed() else "skipped: `uv sync --group bench`"
        return [("dlt default load (peer)", why)]
    rows, seconds = peer
    return [
        (
            "dlt default load (peer)",
            f"{lines / seconds:,.0f} lines/s ({seconds:.1f} s, {rows:,} rows, no results, "
            "no merge)",
        ),
        ("ratio pipeline / dlt", f"{rate / (lines / seconds):.2f}x"),
    ]


def main() -> None:
    """Parse options, run the three measurements and print the table."""
    parser = argparse.ArgumentParser(description="Pipeline vs raw COPY, same run, same file.")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--shape", choices=sorted(SHAPES), default="default", help="of the generated lines"
    )
    parser.add_argument("--batch-size", type=int, help="passed to import (default: its own)")
    parser.add_argument("--concurrency", type=int, help="passed to import (default: CPUs)")
    parser.add_argument("--skip-reimport", action="store_true")
    parser.add_argument("--skip-dlt", action="store_true", help="leave out the dlt peer")
    parser.add_argument("--out-dir", type=Path, default=OUT, help="where generated files go")
    parser.add_argument("--db-prefix", default="bench", help="prefix of the databases made")
    args = parser.parse_args()
    become_subreaper()

    shaped = "" if args.shape == "default" else f"_{args.shape}"
    source = args.out_dir / f"bench_{args.lines}_{args.seed}{shaped}.jsonl"
    if not source.exists():
        print(f"generating {source} ...", flush=True)
        generate(source, args.lines, args.seed, args.shape)
    extra = []
    if args.batch_size:
        extra += ["--batch-size", str(args.batch_size)]
    if args.concurrency:
        extra += ["--concurrency", str(args.concurrency)]

    print(f"baseline: raw COPY of {source.name} ...", flush=True)
    base_lines, base_seconds = run_baseline(fresh_database(f"{args.db_prefix}_baseline"), source)
    base_rate = base_lines / base_seconds

    peer = None if args.skip_dlt else _run_peer(source, args.db_prefix)

    url = fresh_database(f"{args.db_prefix}_pipeline")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        shutil.copyfile(
            Path(__file__).parents[1] / "import_pipeline" / "orchestration" / "dagster.yaml",
            home / "dagster.yaml",
        )
        print("pipeline: import-pipeline import ...", flush=True)
        wall, record = run_import(source, url, home, extra)
        in_batches = batch_seconds(home)
        again_wall = again_record = None
        if not args.skip_reimport:
            print("pipeline: the same file again ...", flush=True)
            again_wall, again_record = run_import(source, url, home, extra)
    peak_rss_mb = max(IMPORT_PEAK_RSS_KB) / 1024
    counts = record["results"]
    lines = sum(counts[k] for k in ("completed", "partially_failed", "failed"))
    rate = lines / wall

    rows = [
        ("lines (non-blank)", f"{lines:,}"),
        ("baseline raw COPY", f"{base_rate:,.0f} lines/s ({base_seconds:.1f} s)"),
        ("pipeline import (wall, start-up included)", f"{rate:,.0f} lines/s ({wall:.1f} s)"),
        ("ratio pipeline / baseline", f"{rate / base_rate:.2f}"),
        *_peer_rows(peer, lines, rate),
        ("results", ", ".join(f"{k} {v}" for k, v in counts.items() if v)),
        ("batches", str(len(record["batches"]))),
        ("time in batches / Dagster overhead", f"{in_batches:.1f} s / {wall - in_batches:.1f} s"),
        ("peak RSS of the command's largest process", f"{peak_rss_mb:,.0f} MB"),
        (
            "CPU of the command's processes",
            f"{IMPORT_CPU_SECONDS[0] / lines * 1e6:,.0f} us per line "
            "(user + system, PostgreSQL's own not included)",
        ),
    ]
    if again_wall is not None and again_record is not None:
        rows += [
            (
                "re-import (all lines present)",
                f"{lines / again_wall:,.0f} lines/s ({again_wall:.1f} s)",
            ),
            ("re-import speed-up", f"{wall / again_wall:.2f}x"),
            ("references created on re-import", str(again_record["results"]["references_created"])),
            (
                "CPU of the re-import's processes",
                f"{IMPORT_CPU_SECONDS[1] / lines * 1e6:,.0f} us per line",
            ),
        ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


if __name__ == "__main__":
    main()
