"""Starting and stopping real processes (daemon, API server) in end-to-end tests."""

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def isolated_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The environment without our or Dagster's settings, plus a fresh DAGSTER_HOME.

    The DAGSTER_HOME holds the project's dagster.yaml; `settings` are added as they are.
    """
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(
        ROOT / "import_pipeline" / "orchestration" / "dagster.yaml", home / "dagster.yaml"
    )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    return env | {"DAGSTER_HOME": str(home)} | settings


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def started(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run `argv` (a venv command name first) in its own process group; stop it after.

    SIGTERM to the whole group (the daemon's and server's children included), then
    SIGKILL if it has not exited within 30 s.
    """
    process = subprocess.Popen(
        [str(BIN / argv[0]), *argv[1:]],
        env=env,
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def log_tail(log: Path, size: int = 3000) -> str:
    """The end of a process log, for an assertion message."""
    return log.read_text(errors="replace")[-size:] if log.exists() else "(no log)"
