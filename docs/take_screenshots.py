"""Re-take the Dagster UI screenshots of docs/ui.md (docs/ui-*.png) in a real browser.

    uv run --group docs python docs/take_screenshots.py [--keep DIR] [--only NAME ...]

Needs Debian's Chromium at /usr/bin/chromium (`apt-get install -y chromium`); Playwright
(the `docs` dependency group) drives it and never downloads a browser of its own.

The scenario is built from scratch in a temporary directory, with the project's
dagster.yaml in a fresh DAGSTER_HOME and a SQLite database, by the same commands a user
runs: `import-pipeline import` of real reference exports (import_pipeline_tests/data/real)
and of the bundled demo, a damaged copy of one export (so that some lines fail), a
truncated gzip (so that one record and its run fail), a file dropped in the landing
directory for `dagster-daemon`'s `new_source_sensor`, and records run by `dagster job
backfill`: one registered with `import-pipeline register`, one whose partition key is a
source path (what "Add partition" in the UI creates). Then `dagster-webserver` serves
that instance and each page is captured 1400 pixels wide.
"""

import argparse
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
REAL = ROOT / "import_pipeline_tests" / "data" / "real"
BIN = Path(sys.executable).parent
CHROMIUM = "/usr/bin/chromium"
LOCATION = "import_pipeline.definitions"
WIDTH, HEIGHT = 1400, 900
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def log(message: str) -> None:
    """A progress line with the seconds since the start."""
    print(f"[{time.monotonic() - START:6.1f}s] {message}", flush=True)


START = time.monotonic()


# --------------------------------------------------------------------------- scenario


@dataclass
class Scenario:
    """What the screenshots need to find: record ids and run ids."""

    failed_record: str = ""
    damaged_record: str = ""
    demo_record: str = ""
    batched_run: str = ""


def isolated_env(work: Path, *, create: bool = True) -> dict[str, str]:
    """The environment without our or Dagster's settings, on `work`'s DAGSTER_HOME.

    With `create`, a new DAGSTER_HOME holding the project's dagster.yaml.
    """
    home = work / "dagster_home"
    if create:
        home.mkdir()
        shutil.copyfile(
            ROOT / "import_pipeline" / "orchestration" / "dagster.yaml", home / "dagster.yaml"
        )
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("IMPORT_PIPELINE_", "DAGSTER_"))
    }
    return env | {
        "DAGSTER_HOME": str(home),
        "IMPORT_PIPELINE_DATA_DIR": str(work / "data"),
        "IMPORT_PIPELINE_LANDING_SETTLE_SECONDS": "1",
    }


def run(argv: list[str], env: dict[str, str], logfile: Path, expect: int = 0) -> str:
    """Run a venv command to the end; its stdout (everything goes to `logfile` too)."""
    result = subprocess.run(  # noqa: S603
        [str(BIN / argv[0]), *argv[1:]],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    with logfile.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != expect:
        sys.exit(
            f"{' '.join(argv)} exited {result.returncode}, expected {expect}:\n"
            f"{(result.stdout + result.stderr)[-3000:]}"
        )
    return result.stdout


@contextmanager
def started(argv: list[str], env: dict[str, str], logfile: Path) -> Iterator[None]:
    """Run a venv command in its own process group while the block runs; stop it after."""
    process = subprocess.Popen(  # noqa: S603
        [str(BIN / argv[0]), *argv[1:]],
        env=env,
        cwd=ROOT,
        stdout=logfile.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def damaged_copy(source: Path, target: Path) -> None:
    """A copy of a real export with six lines damaged the ways exports get damaged.

    Two lines keep a valid identifier next to a broken one (partially_failed); four lose
    everything that identifies them or stop being JSON (failed).
    """
    with gzip.open(source, "rt", encoding="utf-8") as stream:
        lines = stream.read().splitlines()
    damage: dict[int, Callable[[dict[str, Any]], str]] = {}

    def with_identifier(kind: str, value: object) -> Callable[[dict[str, Any]], str]:
        def apply(entry: dict[str, Any]) -> str:
            for identifier in entry["identifiers"]:
                if identifier["identifier_type"] == kind:
                    identifier["identifier"] = value
            return json.dumps(entry)

        return apply

    def renamed(entry: dict[str, Any]) -> str:
        entry["enhancments"] = entry.pop("enhancements")
        return json.dumps(entry)

    def anonymous(entry: dict[str, Any]) -> str:
        entry["identifiers"] = []
        return json.dumps(entry)

    damage[41] = with_identifier("doi", "DOI 10.1016/S0091-3057(02)00818-3")
    damage[97] = renamed
    damage[150] = lambda entry: json.dumps(entry)[:700]  # cut off mid-record
    damage[203] = with_identifier("pm_id", "PMID: 12213517")
    damage[260] = anonymous
    damage[311] = lambda entry: json.dumps(entry).replace('"identifiers"', '"identifers"')
    for number, apply in damage.items():
        lines[number - 1] = apply(json.loads(lines[number - 1]))
    with gzip.open(target, "wt", encoding="utf-8") as stream:
        stream.write("\n".join(lines) + "\n")


def instance_runs(env: dict[str, str]) -> list[dict[str, Any]]:
    """The instance's runs (id, status, tags), read by a child process on `env`."""
    script = (
        "import json\n"
        "from dagster import DagsterInstance\n"
        "with DagsterInstance.get() as instance:\n"
        "    print(json.dumps([{'id': r.run_id, 'status': r.status.value, 'tags': r.tags}\n"
        "        for r in instance.get_runs()]))\n"
    )
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    runs: list[dict[str, Any]] = json.loads(out.stdout)
    return runs


def wait_for_runs(env: dict[str, str], count: int, timeout: float = 120) -> list[dict[str, Any]]:
    """Wait until the instance has `count` runs, all finished; return them."""
    deadline = time.monotonic() + timeout
    while True:
        runs = instance_runs(env)
        if len(runs) >= count and all(r["status"] in FINISHED for r in runs):
            return runs
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {count} finished runs: {runs}")
        time.sleep(1)


def add_partition(env: dict[str, str], key: str) -> None:
    """Add a partition by its key, as the UI's "Add partition" dialog does."""
    script = (
        "import sys\n"
        "from dagster import DagsterInstance\n"
        "with DagsterInstance.get() as instance:\n"
        "    instance.add_dynamic_partitions('import_records', [sys.argv[1]])\n"
    )
    subprocess.run([sys.executable, "-c", script, key], env=env, cwd=ROOT, check=True)  # noqa: S603


def build_scenario(work: Path, env: dict[str, str], serve: Callable[[], None]) -> Scenario:
    """Imports started every way the project offers, some with failed lines, one failed.

    `serve` starts the webserver, once the instance exists, to load while the rest runs.
    """
    logs, exports = work / "logs", work / "exports"
    logs.mkdir()
    exports.mkdir()
    landing = work / "data" / "landing"
    landing.mkdir(parents=True)
    commands = logs / "commands.log"
    scenario = Scenario()

    def export(name: str, real: str) -> Path:
        path = exports / name
        shutil.copyfile(REAL / f"{real}.jsonl.gz", path)
        return path

    def import_(path: Path, source: str, *options: str, expect: int = 0) -> str:
        out = run(
            ["import-pipeline", "import", str(path), "--source-name", source, "--json", *options],
            env,
            commands,
            expect,
        )
        record_id: str = json.loads(out)["id"]
        log(f"imported {path.name} as {source!r}: record {record_id}")
        return record_id

    run(["import-pipeline", "db", "upgrade"], env, commands)
    # Open the Dagster instance once, so that its SQLite storage exists before the daemon
    # and the first import start together: both would create it, and the daemon, which
    # takes no lock, can die of "table run_tags already exists".
    instance_runs(env)
    log("database and Dagster instance ready")
    with started(["dagster-daemon", "run", "-m", LOCATION], env, logs / "daemon.log"):
        # The sensor registers and runs this file at its first tick, while the CLI imports.
        dropped = export("sep_2021.jsonl.gz.part", "synergy_Sep_2021")
        dropped.rename(landing / "synergy_Sep_2021.jsonl.gz")
        scenario.demo_record = import_(ROOT / "import_pipeline" / "samples" / "demo.jsonl", "demo")
        wait_for_runs(env, 2)
        log("new_source_sensor has imported the landed file; stopping dagster-daemon")
    serve()
    import_(
        export("digital_work.jsonl.gz", "bib_dedupe_digital_work"),
        "bib-dedupe digital_work",
        "--batch-size",
        "2000",
        "--concurrency",
        "2",
    )
    import_(export("cytology.jsonl.gz", "bib_dedupe_cytology_screening"), "bib-dedupe cytology")
    damaged = exports / "nelson_2002.jsonl.gz"
    damaged_copy(REAL / "synergy_Nelson_2002.jsonl.gz", damaged)
    scenario.damaged_record = import_(damaged, "synergy Nelson_2002")
    truncated = exports / "haematology.jsonl.gz"
    whole = (REAL / "bib_dedupe_haematology.jsonl.gz").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    scenario.failed_record = import_(truncated, "bib-dedupe haematology", expect=1)
    import_(export("meijboom_2021.jsonl.gz", "synergy_Meijboom_2021"), "synergy Meijboom_2021")
    # Two records for one backfill: one registered by the CLI, one whose partition key is
    # its source's path (the record is registered by the run).
    stroke = export("stroke.jsonl.gz", "bib_dedupe_stroke")
    registered = run(
        ["import-pipeline", "register", str(stroke), "--source-name", "bib-dedupe stroke"],
        env,
        commands,
    ).strip()
    donners = str(export("donners_2021.jsonl.gz", "synergy_Donners_2021"))
    add_partition(env, donners)
    backfill = ["dagster", "job", "backfill", "-m", LOCATION, "-j", "import_references"]
    run([*backfill, "--partitions", f"{registered},{donners}", "--noprompt"], env, commands)
    log(f"backfilled registered record {registered} and source partition {donners}")
    runs = wait_for_runs(env, 9)
    log("the backfill's runs have finished")
    for one in runs:
        if one["tags"].get("import_pipeline/source") == "bib-dedupe digital_work":
            scenario.batched_run = one["id"]
    failed = [r for r in runs if r["status"] != "SUCCESS"]
    if len(failed) != 1 or not scenario.batched_run:
        sys.exit(f"unexpected runs (see {logs}): {runs}")
    return scenario


# --------------------------------------------------------------------------- screenshots


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_server(base: str, timeout: float = 90) -> None:
    """Wait until the webserver answers and has loaded the code location."""
    deadline = time.monotonic() + timeout
    query = json.dumps(
        {"query": "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus } } } }"}
    ).encode()
    while time.monotonic() < deadline:
        try:
            request = urllib.request.Request(  # noqa: S310
                f"{base}/graphql", data=query, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                entries = json.load(response)["data"]["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except (OSError, KeyError, TypeError, ValueError):
            pass
        time.sleep(0.5)
    sys.exit(f"dagster-webserver did not come up at {base}")


# What the UI keeps in the browser's localStorage (JSON values): the first visit's "Join
# the Dagster community" dialog already dismissed, and the run page's split panes (the
# first pane's percentage): a taller step chart, a step list wide enough for step keys.
LOCAL_STORAGE = {
    "communityNux": "1",
    "dagster.panel-width.run-gantt": 75,
    "dagster.panel-width.gantt-split": 45,
}


def settle(page: Page, ready: str) -> None:
    """Wait for the page's network to go quiet and for `ready` (text) to show."""
    page.wait_for_load_state("networkidle")
    page.get_by_text(ready, exact=True).first.wait_for(timeout=30_000)
    page.wait_for_timeout(700)


def no_dialog(page: Page) -> None:
    """Skip the "Join the Dagster community" dialog if it shows after all; fail on others.

    LOCAL_STORAGE's `communityNux` keeps it away; should a Dagster release rename that key,
    the dialog would cover every shot.
    """
    dialogs = page.get_by_role("dialog")
    community = dialogs.filter(has_text="Join the Dagster community")
    if community.count() and community.first.is_visible():
        community.get_by_role("button", name="Skip").click()
        community.first.wait_for(state="hidden")
        page.wait_for_timeout(300)
    shown = [d.inner_text()[:80] for d in dialogs.all() if d.is_visible()]
    if shown:
        sys.exit(f"a dialog covers the page {page.url}: {shown}")


def scroll_to(page: Page, text: str) -> None:
    """Scroll the element showing `text` to the top of its scroll container."""
    page.get_by_text(text, exact=True).first.evaluate(
        "e => e.scrollIntoView({block: 'start', behavior: 'instant'})"
    )
    page.wait_for_timeout(300)


def keep_plots(page: Page, titles: list[str]) -> None:
    """Hide the metadata plots other than `titles` (the UI draws one per numeric key)."""
    shown = page.evaluate(
        """titles => {
            const heading = [...document.querySelectorAll('span')]
                .find(e => e.textContent.trim() === titles[0]);
            let grid = heading;
            while (grid && grid.childElementCount < titles.length * 2) grid = grid.parentElement;
            if (!grid) return [];
            const shown = [];
            for (const card of grid.children) {
                const title = card.innerText.split('\\n')[0].trim();
                if (titles.includes(title)) shown.push(title);
                else card.style.display = 'none';
            }
            return shown;
        }""",
        titles,
    )
    if sorted(shown) != sorted(titles):
        sys.exit(f"the Plots view has changed: found plots {shown}, expected {titles}")
    page.wait_for_timeout(500)


def shoot_partitions(page: Page, base: str, scenario: Scenario) -> None:
    """(a) The asset's Partitions tab, the failed record's partition selected."""
    page.goto(
        f"{base}/assets/imported_references?view=partitions&partition={scenario.failed_record}"
    )
    settle(page, "Failed (1)")
    page.get_by_text("did not materialize this asset").first.wait_for()


def shoot_plots(page: Page, base: str, scenario: Scenario) -> None:
    """(b) The asset's Overview tab, Metadata section switched to Plots, four of them."""
    page.goto(f"{base}/assets/imported_references?view=overview")
    settle(page, "Metadata")
    page.get_by_role("button", name="Plots").click()
    page.get_by_text("lines_per_second", exact=True).first.wait_for()
    keep_plots(page, ["failed_share", "lines_per_second", "lines", "batch_lines_per_second"])
    scroll_to(page, "Metadata")


def shoot_materialization(page: Page, base: str, scenario: Scenario) -> None:
    """(c) The damaged export's partition: its numbers and the failure_samples table."""
    page.set_viewport_size({"width": WIDTH, "height": 1300})
    page.goto(
        f"{base}/assets/imported_references?view=partitions&partition={scenario.damaged_record}"
    )
    settle(page, "failure_samples")
    scroll_to(page, "failed_share")


def shoot_runs(page: Page, base: str, scenario: Scenario) -> None:
    """(d) The job's Runs tab, tall enough for all nine runs."""
    page.set_viewport_size({"width": WIDTH, "height": 1650})
    page.goto(f"{base}/locations/{LOCATION}/jobs/import_references/runs")
    settle(page, "Launched by")


def shoot_lineage(page: Page, base: str, scenario: Scenario) -> None:
    """(e) Global asset lineage: the one asset, its partitions' health."""
    page.set_viewport_size({"width": WIDTH, "height": 600})
    page.goto(f"{base}/asset-groups")
    settle(page, "Global asset lineage")
    page.get_by_text("imported_references", exact=True).last.wait_for()


def shoot_run_steps(page: Page, base: str, scenario: Scenario) -> None:
    """(f) The batched import's run: the step chart and the succeeded steps by key."""
    page.goto(f"{base}/runs/{scenario.batched_run}")
    settle(page, "RUN_SUCCESS")
    page.get_by_text("Succeeded (7)").click()
    page.get_by_text("imported_references_checks", exact=True).first.wait_for()


def shoot_checks(page: Page, base: str, scenario: Scenario) -> None:
    """(g) The asset's Checks tab: the four checks, one check's partitions, the demo's warning.

    The URL names the check (`checkDetail`) but neither the Partitions subtab nor the
    partition, so both are clicked; the list shows keys cut short, hence the key's end.
    """
    if not scenario.demo_record:
        sys.exit("the kept scenario names no demo record: build it again in a new --keep DIR")
    page.goto(
        f"{base}/assets/imported_references?view=checks&checkDetail=failed_share_below_threshold"
    )
    settle(page, "Execution history")
    page.get_by_role("tab", name="Partitions").last.click()
    settle(page, "Select a partition to view details")
    page.get_by_text(scenario.demo_record[-6:]).first.click()
    page.get_by_text("over the threshold", exact=False).first.wait_for()
    page.mouse.move(WIDTH - 10, HEIGHT - 10)  # no tooltip over the partition list
    page.wait_for_timeout(500)


SHOTS: dict[str, Callable[[Page, str, Scenario], None]] = {
    "ui-partitions": shoot_partitions,
    "ui-plots": shoot_plots,
    "ui-materialization": shoot_materialization,
    "ui-runs": shoot_runs,
    "ui-lineage": shoot_lineage,
    "ui-run-steps": shoot_run_steps,
    "ui-checks": shoot_checks,
}


def take_screenshots(base: str, scenario: Scenario, only: list[str]) -> None:
    """Capture each page of the webserver at `base` as docs/<name>.png."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        wait_for_server(base)
        log(f"dagster-webserver is up at {base}")
        try:
            for name, shoot in SHOTS.items():
                if only and name not in only:
                    continue
                context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT})
                context.add_init_script(
                    f"for (const [k, v] of Object.entries({json.dumps(LOCAL_STORAGE)}))"
                    " localStorage.setItem(k, JSON.stringify(v));"
                )
                page = context.new_page()
                page.set_default_timeout(30_000)
                shoot(page, base, scenario)
                no_dialog(page)
                page.screenshot(path=DOCS / f"{name}.png", animations="disabled")
                context.close()
                log(f"docs/{name}.png")
        finally:
            browser.close()


def main() -> None:
    """Build the scenario, then take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep",
        type=Path,
        help="build the scenario in this directory and keep it; if it holds one already, "
        "only take the screenshots again",
    )
    parser.add_argument(
        "--only", nargs="*", default=[], choices=sorted(SHOTS), help="shots to take"
    )
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="ui-shots-") as tmp, ExitStack() as stack:
        work = args.keep.resolve() if args.keep else Path(tmp)
        saved = work / "scenario.json"
        port = free_port()
        server = ["dagster-webserver", "-m", LOCATION, "-h", "127.0.0.1", "-p", str(port)]

        def serve() -> None:
            stack.enter_context(started(server, env, work / "logs" / "webserver.log"))

        if saved.exists():  # a kept scenario: only take the screenshots again
            env = isolated_env(work, create=False)
            scenario = Scenario(**json.loads(saved.read_text()))
            serve()
        else:
            work.mkdir(parents=True, exist_ok=True)
            env = isolated_env(work)
            scenario = build_scenario(work, env, serve)
            saved.write_text(json.dumps(asdict(scenario)))
        take_screenshots(f"http://127.0.0.1:{port}", scenario, args.only)
    log("done")


if __name__ == "__main__":
    main()
