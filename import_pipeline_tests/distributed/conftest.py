"""Fixtures of the distributed tests: RabbitMQ, a shared Dagster instance, real workers.

- RabbitMQ at IMPORT_PIPELINE_TEST_CELERY_BROKER (default: the local server, guest):
  when it cannot be reached the tests skip locally and fail under CI=true, as the
  PostgreSQL tests do;
- a queue of this session's own, so no other worker on the broker takes our steps;
- a temporary DAGSTER_HOME whose instance is on a PostgreSQL database of its own
  (dagster-postgres), as a deployment on several machines has it: the workers write
  their events and the steps' outputs there;
- `workers`: `import-pipeline worker` processes, each in its own session, started and
  waited for ("ready."), killed with their process group at the end.
"""

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance

from import_pipeline_tests.conftest import ADMIN_URL, _admin_engine
from import_pipeline_tests.processes import BIN, ROOT, log_tail

BROKER = os.environ.get("IMPORT_PIPELINE_TEST_CELERY_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
BACKEND = "rpc://"
READY_SECONDS = 60


def _broker_reachable() -> str | None:
    """None when the broker's port answers, else why not."""
    url = urlsplit(BROKER)
    host, port = url.hostname or "127.0.0.1", url.port or 5672
    try:
        with socket.create_connection((host, port), timeout=3):
            return None
    except OSError as error:
        return f"RabbitMQ is not reachable at {host}:{port}: {error}"


@pytest.fixture(scope="session")
def broker() -> str:
    """The broker URL; fails under CI=true (skips locally) when RabbitMQ is down."""
    problem = _broker_reachable()
    if problem:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    return BROKER


@pytest.fixture(scope="session")
def queue() -> str:
    """A queue of this test session's own."""
    return f"import_pipeline_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def dagster_home(tmp_path_factory, postgres_template) -> Iterator[Path]:
    """A DAGSTER_HOME whose instance storage is a fresh PostgreSQL database."""
    name = f"import_pipeline_dagster_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.make_url(ADMIN_URL).set(drivername="postgresql+psycopg2", database=name)
    home = tmp_path_factory.mktemp("dagster_home")
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "storage:\n  postgres:\n"
        f"    postgres_url: {url.render_as_string(hide_password=False)}\n"
    )
    yield home
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def instance(dagster_home) -> Iterator[DagsterInstance]:
    """The shared Dagster instance, as the launching process opens it."""
    with DagsterInstance.from_config(str(dagster_home)) as opened:
        yield opened


class Worker:
    """One `import-pipeline worker` process in its own session, with its log."""

    def __init__(self, name: str, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log = log
        self.process = subprocess.Popen(
            [str(BIN / "import-pipeline"), "worker", "--concurrency", "1", "--name", name],
            env=env,
            cwd=ROOT,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if "ready." in self.log.read_text(errors="replace"):
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"worker {self.name} did not get ready:\n{log_tail(self.log)}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes (a machine that died)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, 9)
        self.process.wait(10)


class Workers:
    """Starts workers on the session's queue; kills every one it started at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self._env = env
        self._logs = logs
        self.started: list[Worker] = []

    def start(self) -> Worker:
        name = f"w{len(self.started) + 1}_{uuid.uuid4().hex[:6]}@%h"
        worker = Worker(name, self._env, self._logs / f"worker_{len(self.started) + 1}.log")
        self.started.append(worker)
        worker.wait_ready()
        return worker

    def running(self) -> Worker:
        """A live worker: the last one started if it still runs, else a new one."""
        if self.started and self.started[-1].process.poll() is None:
            return self.started[-1]
        return self.start()

    def kill_all(self) -> None:
        for worker in self.started:
            worker.kill()


@pytest.fixture(scope="session")
def workers(broker, queue, tmp_path_factory) -> Iterator[Workers]:
    """Workers of the session's queue, with none of our settings but the celery ones.

    They get the database URL from each run's config and the instance from the run's
    instance reference, as a worker on another machine would: no DAGSTER_HOME either.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    env |= {
        "IMPORT_PIPELINE_CELERY_BROKER": broker,
        "IMPORT_PIPELINE_CELERY_BACKEND": BACKEND,
        "IMPORT_PIPELINE_CELERY_QUEUE": queue,
    }
    pool = Workers(env, tmp_path_factory.mktemp("worker_logs"))
    yield pool
    pool.kill_all()


@pytest.fixture
def other_postgres_url(postgres_template) -> Iterator[str]:
    """A second fresh, migrated PostgreSQL database, for the in-process twin of an import."""
    name = f"import_pipeline_twin_{uuid.uuid4().hex[:12]}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"')
    yield sa.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()
