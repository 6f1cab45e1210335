"""Loading the code location has no side effect: no setting read, no file, no connection."""

import json
import subprocess
import sys

PROBE = r"""
import json, os, sys

read = set()
OURS = os.sep + "import_pipeline" + os.sep


def note(key):
    # A read by our code: the caller is in import_pipeline/ (through os.getenv or not),
    # not a library that our import happens to load.
    caller = sys._getframe(2)
    if caller.f_code.co_filename == os.__file__:
        caller = caller.f_back
    if caller is not None and OURS in caller.f_code.co_filename:
        read.add(key)


class Watched(type(os.environ)):
    def __getitem__(self, key):
        note(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        note(key)
        return super().get(key, default)

    def __contains__(self, key):
        note(key)
        return super().__contains__(key)

os.environ = Watched(
    os.environ._data, os.environ.encodekey, os.environ.decodekey,
    os.environ.encodevalue, os.environ.decodevalue,
)
events = []

def audit(event, args):
    if event in {"socket.connect", "sqlite3.connect"}:
        events.append([event, repr(args)[:200]])
    elif event == "open" and isinstance(args[0], str) and args[0].startswith(sys.argv[1]):
        events.append([event, args[0]])

sys.addaudithook(audit)
from import_pipeline import settings  # noqa: E402

built = []
original_init = settings.Settings.__init__

def counting_init(self, *args, **kwargs):
    built.append(1)  # pydantic-settings reads the environment here, not through our frames
    original_init(self, *args, **kwargs)

settings.Settings.__init__ = counting_init
import import_pipeline.definitions  # noqa: E402

if built:
    read.add(f"Settings() built {len(built)} time(s)")

print(json.dumps({"read": sorted(read),
                  "events": events}))
"""


def test_importing_the_definitions_reads_no_setting_and_opens_nothing(tmp_path):
    data = tmp_path / "data"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "IMPORT_PIPELINE_DATA_DIR": str(data),
        "IMPORT_PIPELINE_DATABASE_URL": f"sqlite:///{data}/x.sqlite",
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    seen = json.loads(completed.stdout.strip().splitlines()[-1])
    assert seen == {"read": [], "events": []}
    assert not data.exists()
    assert not (tmp_path / "dagster_home").exists()
