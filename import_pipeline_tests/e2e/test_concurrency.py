"""Concurrent imports and crash recovery, with real processes on real PostgreSQL.

- four `import-pipeline import` processes of overlapping sources at the same time;
- an import whose process is SIGKILLed mid-batch, then `import-pipeline rerun`.
Afterwards every line has exactly one terminal result and every identifier belongs to
the one reference its lines point at.
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance

from import_pipeline.store.tables import (
    external_identifier,
    import_batch,
    import_record,
    import_result,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
CLI = [sys.executable, "-m", "import_pipeline.cli"]


def env_for(tmp_path, name, postgres_url, **extra):
    home = tmp_path / f"dagster_home_{name}"
    home.mkdir()
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    env |= {"IMPORT_PIPELINE_DATABASE_URL": postgres_url, "DAGSTER_HOME": str(home), **extra}
    return env


def write_source(path, lines):
    path.write_text("".join(json.dumps({"identifiers": ids}) + "\n" for ids in lines))
    return path


def pmid(n):
    return {"identifier_type": "pm_id", "identifier": n}


def assert_consistent(engine):
    """No line without exactly one terminal result; each line's identifiers on its reference."""
    with engine.connect() as connection:
        unsettled = connection.execute(
            sa.select(sa.func.count()).where(
                import_result.c.status.not_in(["completed", "partially_failed", "failed"])
            )
        ).scalar()
        assert unsettled == 0
        duplicates = connection.execute(
            sa.select(import_result.c.import_batch_id, import_result.c.line_number)
            .group_by(import_result.c.import_batch_id, import_result.c.line_number)
            .having(sa.func.count() > 1)
        ).all()
        assert duplicates == []


def retries_in(home):
    """(step retries, identifier races retried in place) recorded in a Dagster instance."""
    os.environ["DAGSTER_HOME"] = str(home)
    step_retries = races = 0
    try:
        with DagsterInstance.get() as instance:
            for run in instance.get_runs():
                step_retries += len(
                    instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
                )
                for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_OUTPUT):
                    metadata = entry.dagster_event.event_specific_data.metadata
                    if "identifier_race_retries" in metadata:
                        races += metadata["identifier_race_retries"].value
    finally:
        del os.environ["DAGSTER_HOME"]
    return step_retries, races


def test_four_overlapping_imports_at_once(pg_engine, postgres_url, tmp_path):
    rng = random.Random(20261126)
    shared = list(range(1, 2001))  # in every file: at least half of each file's identifiers
    sources, expected_lines = [], 0
    for k in range(4):
        lines = []
        for i in range(8000):
            ids = [pmid(rng.choice(shared))]
            if rng.random() < 0.5:
                ids.append(pmid(100_000 * (k + 1) + i))  # private to this file and line
            rng.shuffle(ids)
            lines.append(ids)
        sources.append(write_source(tmp_path / f"s{k}.jsonl", lines))
        expected_lines += len(lines)
    with pg_engine.connect() as connection:
        deadlocks_before = connection.exec_driver_sql(
            "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
        ).scalar()
    procs = [
        subprocess.Popen(
            [*CLI, "import", str(src), "--source-name", f"stress-{k}", "--json"],
            env=env_for(tmp_path, str(k), postgres_url, IMPORT_PIPELINE_CHUNK_SIZE="100"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for k, src in enumerate(sources)
    ]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    records = [json.loads(out) for out, _ in outputs]
    assert all(r["status"] == "completed" for r in records)
    assert sum(r["results"]["completed"] for r in records) == expected_lines
    assert_consistent(pg_engine)

    with pg_engine.connect() as connection:
        # The imports really overlapped in time.
        spans = connection.execute(
            sa.select(
                sa.func.min(import_result.c.created_at), sa.func.max(import_result.c.created_at)
            )
            .join(import_batch, import_batch.c.id == import_result.c.import_batch_id)
            .group_by(import_batch.c.import_record_id)
        ).all()
        assert max(start for start, _ in spans) < min(end for _, end in spans)
        # Every line points at the reference that owns each of its identifiers.
        for k, src in enumerate(sources):
            record_id = records[k]["id"]
            owners = dict(
                connection.execute(
                    sa.select(
                        external_identifier.c.identifier_key, external_identifier.c.reference_id
                    )
                )
                .tuples()
                .all()
            )
            results = {
                r.line_number: r.reference_id
                for r in connection.execute(
                    sa.select(import_result.c.line_number, import_result.c.reference_id)
                    .join(import_batch, import_batch.c.id == import_result.c.import_batch_id)
                    .where(import_batch.c.import_record_id == record_id)
                )
            }
            for number, text in enumerate(src.read_text().splitlines(), start=1):
                for ident in json.loads(text)["identifiers"]:
                    assert owners[f"pm_id:{ident['identifier']}"] == results[number]
        deadlocks = (
            connection.exec_driver_sql(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()"
            ).scalar()
            - deadlocks_before
        )
        references = connection.exec_driver_sql("SELECT count(*) FROM reference").scalar()
    # One reference per shared identifier used: private ids merged into their line's one.
    used = {
        ident["identifier"]
        for src in sources
        for text in src.read_text().splitlines()
        for ident in json.loads(text)["identifiers"]
        if ident["identifier"] <= 2000
    }
    assert references == len(used)
    counts = [retries_in(tmp_path / f"dagster_home_{k}") for k in range(4)]
    print(
        f"\nstress: {expected_lines} lines in 4 concurrent imports, {references} references, "
        f"{deadlocks} deadlock(s) detected by PostgreSQL, "
        f"{sum(c[0] for c in counts)} step retr(y/ies), {sum(c[1] for c in counts)} identifier race(s) retried"
    )


def test_sigkill_mid_batch_then_rerun(pg_engine, postgres_url, tmp_path):
    total = 20_000
    source = write_source(
        tmp_path / "big.jsonl",
        [
            [pmid(n), pmid(1_000_000 + n // 2)] if n % 2 == 0 else [pmid(n)]
            for n in range(1, total + 1)
        ],
    )
    env = env_for(
        tmp_path,
        "crash",
        postgres_url,
        IMPORT_PIPELINE_CHUNK_SIZE="200",
        IMPORT_PIPELINE_WRITER_LEASE_SECONDS="3",  # the killed run's lease goes stale soon
    )
    proc = subprocess.Popen(
        [*CLI, "import", str(source), "--source-name", "crash", "--concurrency", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    written = 0
    with pg_engine.connect() as connection:
        while time.monotonic() < deadline and written < 1000:
            written = connection.execute(
                sa.select(sa.func.count()).select_from(import_result)
            ).scalar()
            connection.commit()
            time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    assert written >= 1000
    with pg_engine.connect() as connection:
        [(record_id, status)] = connection.execute(
            sa.select(import_record.c.id, import_record.c.status)
        ).all()
        left = connection.execute(sa.select(sa.func.count()).select_from(import_result)).scalar()
        batch_status = connection.execute(sa.select(import_batch.c.status)).scalar()
    assert status == "started" and batch_status == "started"
    assert 1000 <= left < total, "the kill must land mid-batch"

    rerun = subprocess.run(
        [*CLI, "rerun", str(record_id), "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    record = json.loads(rerun.stdout)
    assert record["status"] == "completed"
    assert record["results"]["completed"] == total
    assert_consistent(pg_engine)
    with pg_engine.connect() as connection:
        mismatched = connection.exec_driver_sql(
            "SELECT count(*) FROM import_result r JOIN external_identifier i "
            "ON i.identifier_key = 'pm_id:' || r.line_number WHERE i.reference_id <> r.reference_id"
        ).scalar()
        references = connection.exec_driver_sql("SELECT count(*) FROM reference").scalar()
    assert mismatched == 0
    # No two lines share an identifier (even lines' second ids are distinct): one each.
    assert references == total
