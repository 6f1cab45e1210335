"""The Dagster instance the command line runs imports on: where it lives and opening it.

`DAGSTER_HOME` when set (it must be an absolute path to a directory this process can
write), else `<data dir>/dagster_home`, created with the project's dagster.yaml. The
instance is opened under a lock file in that directory, so that several commands
started at once on a fresh home do not race to create its storage.
"""

import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from filelock import FileLock

from import_pipeline.domain.errors import DomainError
from import_pipeline.domain.excerpts import first_line

if TYPE_CHECKING:
    from dagster import DagsterInstance

_INIT_LOCK_NAME = ".import-pipeline-instance.lock"
_LOCK_TIMEOUT_SECONDS = 300


class InstanceHomeError(DomainError):
    """DAGSTER_HOME (or the default instance directory) is unusable; the message says why."""


def instance_home(data_dir: Path) -> Path:
    """The instance directory, checked and created; raises `InstanceHomeError`.

    The default home gets the project's dagster.yaml when it has none; a configured
    DAGSTER_HOME is used as it is (its own dagster.yaml, or Dagster's defaults).
    """
    configured = os.environ.get("DAGSTER_HOME")
    if configured:
        home = Path(configured).expanduser()
        where = f"DAGSTER_HOME={configured}"
        if not home.is_absolute():
            raise InstanceHomeError(f"{where} must be an absolute path")
    else:
        home = (data_dir / "dagster_home").resolve()
        where = f"the Dagster instance directory {home}"
    if home.exists() and not home.is_dir():
        raise InstanceHomeError(f"{where} is not a directory")
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise InstanceHomeError(f"{where} cannot be written: {error.strerror or error}") from None
    if not configured:
        _install_dagster_yaml(home)
    return home


def _install_dagster_yaml(home: Path) -> None:
    """Copy the project's dagster.yaml into `home` unless it has one (atomically)."""
    target = home / "dagster.yaml"
    if target.exists():
        return
    template = resources.files("import_pipeline.orchestration") / "dagster.yaml"
    with tempfile.NamedTemporaryFile(dir=home, delete=False, suffix=".yaml.tmp") as partial:
        partial.write(template.read_bytes())
    Path(partial.name).replace(target)  # a reader never sees half a file


def open_instance(home: Path) -> "DagsterInstance":
    """The Dagster instance of `home`, created under its lock file the first time.

    Raises `InstanceHomeError` when its dagster.yaml is unusable.
    """
    from dagster import DagsterError, DagsterInstance  # noqa: PLC0415 (slow to import)
    from dagster._check import CheckError  # noqa: PLC0415 (a class it names cannot load)

    with FileLock(home / _INIT_LOCK_NAME, timeout=_LOCK_TIMEOUT_SECONDS):
        try:
            return DagsterInstance.from_config(str(home))
        except (DagsterError, CheckError, yaml.YAMLError) as error:
            first = first_line(error, type(error).__name__)
            raise InstanceHomeError(f"{home / 'dagster.yaml'} is unusable: {first}") from None
