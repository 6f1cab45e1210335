"""The progress bar of `import`: drawn on a terminal (a real pseudo-terminal), never
with `--json` or when the output is not a terminal."""

import json
import os
import re
import select
import subprocess
import sys

import pytest

from import_pipeline_tests.data_files import non_blank_lines, real_file

CLI = [sys.executable, "-m", "import_pipeline.cli"]
SOURCE = "bib_dedupe_digital_work.jsonl.gz"  # 7,159 lines
ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture
def env(tmp_path):
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    # Small chunks: more, smaller steps for the bar to show.
    return clean | {
        "IMPORT_PIPELINE_DATA_DIR": str(tmp_path / "data"),
        "IMPORT_PIPELINE_CHUNK_SIZE": "250",
        "TERM": "xterm-256color",
        "COLUMNS": "160",
    }


def run_on_a_terminal(args, env):
    """Run the CLI with stdout on a pseudo-terminal; return (exit status, screen text)."""
    controller, terminal = os.openpty()
    process = subprocess.Popen(
        [*CLI, *args], env=env, stdout=terminal, stderr=subprocess.PIPE, close_fds=True
    )
    os.close(terminal)
    chunks = []
    while True:
        ready, _, _ = select.select([controller], [], [], 300)
        if not ready:
            process.kill()
            raise AssertionError("no output for 300 s")
        try:
            data = os.read(controller, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not data:
            break
        chunks.append(data)
    os.close(controller)
    stderr = process.stderr.read().decode() if process.stderr else ""
    assert process.wait(60) == 0, stderr
    return ESCAPES.sub("", b"".join(chunks).decode(errors="replace"))


def test_the_bar_shows_lines_settled_rate_and_statuses_on_a_terminal(env):
    source = real_file(SOURCE)
    total = non_blank_lines(source)
    screen = run_on_a_terminal(["import", str(source), "--source-name", "tty"], env)
    frames = [frame for frame in re.split(r"[\r\n]", screen) if " lines " in frame]
    bars = [frame for frame in frames if "lines/s" in frame]
    assert bars, screen[-2000:]
    assert any(f"{total}/{total} lines" in frame for frame in bars), bars[-3:]
    assert any(f"ok {total:,}" in frame for frame in bars), bars[-3:]
    assert len(set(bars)) >= 2  # redrawn as the import goes on
    assert "(tty): completed" in screen


def test_no_bar_with_json_even_on_a_terminal(env):
    source = real_file(SOURCE)
    screen = run_on_a_terminal(["import", str(source), "--source-name", "tty", "--json"], env)
    assert "lines/s" not in screen
    record = json.loads(screen.replace("\r\n", "\n"))
    assert record["status"] == "completed"


def test_no_bar_when_the_output_is_not_a_terminal(env):
    source = real_file("synergy_Sep_2021.jsonl.gz")
    completed = subprocess.run(
        [*CLI, "import", str(source), "--source-name", "pipe"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    assert "lines/s" not in completed.stdout + completed.stderr
    assert "\x1b[" not in completed.stdout
    assert completed.stdout.startswith("import record ")
