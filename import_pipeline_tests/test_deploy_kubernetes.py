"""The Kubernetes deployment (deploy/kubernetes/), validated without a cluster.

What is checked here: the Helm values, manifests and Dockerfile parse and agree with the code
location (`workspace.yaml`'s module, which loads, also through a gRPC code server started from
the values' own arguments), with the settings (every IMPORT_PIPELINE_* key given to the pods is a
real setting, and the values parse), and with the local instance (the same pool limit); the
k8s_job_executor's run config validates for the import job built with that executor; the
K8sRunLauncher and the pool, configured as the chart renders them from the values, load in a
Dagster instance. What is not: helm rendering, a cluster, an image build (deploy/kubernetes/
README.md, "What is checked").

dagster-k8s comes with the `deploy` dependency group (`uv sync --group deploy`, as `.ci/run`
does): without it these tests skip locally and fail under CI=true.
"""

import json
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster import InitExecutorContext
from dagster._core.executor.step_delegating import StepDelegatingExecutor
from dagster._core.instance.config import PoolGranularity

from import_pipeline.cli import main as cli_main
from import_pipeline.definitions import defs as shipped_defs
from import_pipeline.orchestration.executor import import_executor, k8s_executor_config
from import_pipeline.orchestration.jobs import IMPORT_JOB_NAME
from import_pipeline.orchestration.launch import import_job_from_environment
from import_pipeline.orchestration.ops import WRITER_POOL, process_import_batch
from import_pipeline.orchestration.run_config import (
    config_for_partition,
    run_config,
)
from import_pipeline.settings import ENV_PREFIX, Settings, get_settings, load_settings

try:
    import kubernetes.client
    from dagster_k8s import K8sRunLauncher
except ImportError as error:  # pragma: no cover - depends on the installed groups
    if os.environ.get("CI", "").lower() == "true":
        raise
    pytest.skip(
        f"dagster-k8s is not installed ({error}): uv sync --group deploy",
        allow_module_level=True,
    )

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    loaded = _yaml(DEPLOY / "values.yaml")
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def deployment(values: dict[str, Any]) -> dict[str, Any]:
    user_deployments = values["dagster-user-deployments"]
    assert user_deployments["enabled"] is True
    assert user_deployments["enableSubchart"] is True
    (only,) = user_deployments["deployments"]
    return dict(only)


@pytest.fixture(scope="module")
def cluster_objects() -> dict[tuple[str, str], dict[str, Any]]:
    """The objects of config.yaml by (kind, name)."""
    text = (DEPLOY / "config.yaml").read_text(encoding="utf-8")
    docs = [doc for doc in yaml.safe_load_all(text) if doc]
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in docs}


@pytest.fixture
def clean_settings(monkeypatch: pytest.MonkeyPatch):
    """No IMPORT_PIPELINE_* variable of this process leaks into a test, nor cached settings."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def _executor_run_config() -> dict[str, Any]:
    loaded = _yaml(DEPLOY / "k8s-executor-run-config.yaml")
    assert set(loaded) == {"execution"}
    return dict(loaded)


# --- the code location, as the values and the image name it ---------------------------------


def test_the_values_serve_the_workspace_module_on_the_images_port(deployment):
    workspace = _yaml(ROOT / "workspace.yaml")
    (location,) = workspace["load_from"]
    module = location["python_module"]["module_name"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", module]

    instructions = _dockerfile_instructions()
    exposed = [rest for keyword, rest in instructions if keyword == "EXPOSE"]
    assert exposed == [str(deployment["port"])]
    (cmd,) = [json.loads(rest) for keyword, rest in instructions if keyword == "CMD"]
    assert cmd[:3] == ["dagster", "api", "grpc"]
    assert cmd[cmd.index("-p") + 1] == str(deployment["port"])
    assert cmd[cmd.index("-m") :] == deployment["dagsterApiGrpcArgs"]


def test_the_image_installs_the_locked_runtime_and_the_deploy_group_only():
    syncs = [
        shlex.split(rest)
        for keyword, rest in _dockerfile_instructions()
        if keyword == "RUN" and rest.startswith("uv sync")
    ]
    assert len(syncs) == 2  # dependencies, then the project
    for args in syncs:
        assert {"--locked", "--no-dev"} <= set(args)
        assert args[args.index("--group") + 1] == "deploy"
    assert "--no-editable" in syncs[-1]

    # The deploy group pins dagster-k8s to the release of the other Dagster libraries.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = dict(
        spec.split("==", 1)
        for spec in project["project"]["dependencies"]
        if spec.startswith("dagster-")
    )
    assert project["dependency-groups"]["deploy"] == [f"dagster-k8s=={pins['dagster-postgres']}"]


@pytest.mark.slow
def test_definitions_validate_through_a_code_server_started_with_the_values_args(
    deployment, tmp_path
):
    """`dagster definitions validate --load-with-grpc` starts a gRPC code server with the same
    arguments as the chart's `dagster api grpc` and loads the location from it."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["DAGSTER_HOME"] = str(home)
    dagster = Path(sys.executable).parent / "dagster"
    completed = subprocess.run(
        [
            str(dagster),
            "definitions",
            "validate",
            "--load-with-grpc",
            *deployment["dagsterApiGrpcArgs"],
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "All code locations passed validation" in completed.stdout + completed.stderr


# --- settings, secrets and volumes of the pods ----------------------------------------------


def test_every_setting_given_to_the_pods_is_a_real_one_and_parses(
    deployment, cluster_objects, clean_settings
):
    """The env ConfigMaps and Secrets of the user deployment (copied into run and step pods)
    exist in config.yaml, hold only IMPORT_PIPELINE_* settings the project reads, and those
    values parse as the pods will parse them."""
    sources = [("ConfigMap", ref["name"], "data") for ref in deployment["envConfigMaps"]]
    sources += [("Secret", ref["name"], "stringData") for ref in deployment["envSecrets"]]
    assert sources, "the deployment gives its pods no settings"
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}

    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    env: dict[str, str] = {}
    for kind, name, field in sources:
        assert (kind, name) in cluster_objects, f"{kind} {name} is not in config.yaml"
        for key, value in cluster_objects[(kind, name)][field].items():
            assert key in known, f"{kind} {name}: {key} is no IMPORT_PIPELINE_* setting"
            env[key] = str(value)
    for key, value in env.items():
        clean_settings.setenv(key, value)

    settings = load_settings()
    assert settings.resolved_database_url.startswith("postgresql+psycopg://")
    # Both default to the CPU count, which a pod sees as the node's: they must be explicit.
    assert settings.writers == int(env[ENV_PREFIX + "WRITERS"])
    assert settings.batch_workers == int(env[ENV_PREFIX + "BATCH_WORKERS"])
    # The landing directory and local sources are on the volume mounted in every pod.
    mounts = {mount["mountPath"] for mount in deployment["volumeMounts"]}
    assert str(settings.data_dir) in mounts
    assert settings.resolved_landing_dir.is_relative_to(settings.data_dir)


def test_the_volumes_secrets_and_job_are_well_formed_kubernetes_objects(
    values, deployment, cluster_objects
):
    api = kubernetes.client.ApiClient()

    class _Response:  # what ApiClient.deserialize reads: a JSON body
        def __init__(self, body: Any) -> None:
            self.data = json.dumps(body)

    def as_model(body: Any, model: str) -> Any:
        return api.deserialize(_Response(body), model)

    for (kind, name), body in cluster_objects.items():
        assert as_model(body, f"V1{kind}").metadata.name == name

    volumes = [as_model(volume, "V1Volume") for volume in deployment["volumes"]]
    mounts = [as_model(mount, "V1VolumeMount") for mount in deployment["volumeMounts"]]
    claims = {volume.name: volume.persistent_volume_claim.claim_name for volume in volumes}
    assert {mount.name for mount in mounts} <= set(claims)
    for claim in claims.values():
        pvc = cluster_objects[("PersistentVolumeClaim", claim)]
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]  # step pods on several nodes
    data_dir = cluster_objects[("ConfigMap", "import-pipeline-env")]["data"][
        "IMPORT_PIPELINE_DATA_DIR"
    ]
    assert data_dir in {mount.mount_path for mount in mounts}  # landing files, local sources

    password = cluster_objects[("Secret", values["global"]["postgresqlSecretName"])]
    assert set(password["stringData"]) == {"postgresql-password"}  # the chart's key
    assert values["generatePostgresqlPasswordSecret"] is False

    job = as_model(_yaml(DEPLOY / "migrate-job.yaml"), "V1Job")
    (container,) = job.spec.template.spec.containers
    image = deployment["image"]
    assert container.image == f"{image['repository']}:{image['tag']}"
    program, *args = container.command
    assert program == "import-pipeline"
    command = cli_main
    for arg in args:  # the command exists in our CLI
        command = command.commands[arg]
    assert command.name == "upgrade"
    sources = {ref.config_map_ref.name for ref in container.env_from if ref.config_map_ref}
    sources |= {ref.secret_ref.name for ref in container.env_from if ref.secret_ref}
    assert sources == {
        ref["name"] for ref in deployment["envConfigMaps"] + deployment["envSecrets"]
    }


# --- the executor ---------------------------------------------------------------------------


def test_the_k8s_executor_run_config_validates_for_the_shipped_import_job():
    job = shipped_defs.resolve_job_def(IMPORT_JOB_NAME)
    config = {**run_config(batch_size=50_000, chunk_size=2_000), **_executor_run_config()}
    assert dg.validate_run_config(job, config)
    # The `k8s` choice passes its block on; it is held to the k8s executor's own schema when
    # the run starts, with its defaults filled in.
    k8s = k8s_executor_config(config["execution"]["config"]["k8s"])
    assert k8s["max_concurrent"] == 4
    # The batch op retries transient faults with RetryRequested, which needs executor retries
    # on (the default); on k8s each retry is a new step Job.
    assert k8s["retries"] == {"enabled": {}}

    # Names in per_step_k8s_config are not checked by Dagster: a misspelt op would be ignored.
    ops = {op.name for op in job.graph.iterate_op_defs()}
    assert set(k8s["per_step_k8s_config"]) <= ops

    with pytest.raises(dg.Failure, match="max_concurent"):
        k8s_executor_config({"max_concurent": 4})


def test_partition_runs_name_no_executor_so_the_deployments_choice_applies(
    clean_settings, cluster_objects
):
    """Every partition run (UI, backfill, sensor, schedule) gets its config from
    `config_for_partition`, which leaves the executor to the deployment
    (`IMPORT_PIPELINE_EXECUTOR=k8s` in config.yaml)."""
    config = dict(config_for_partition("00000000-0000-0000-0000-000000000001"))
    assert "execution" not in config
    assert dg.validate_run_config(shipped_defs.resolve_job_def(IMPORT_JOB_NAME), config)
    settings = cluster_objects[("ConfigMap", "import-pipeline-env")]["data"]
    assert settings["IMPORT_PIPELINE_EXECUTOR"] == "k8s"


# --- the instance the chart renders ---------------------------------------------------------


# A kubeconfig of a cluster that is not there: enough to load the launcher and executor.
_FAKE_KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
    "users": [{"name": "u", "user": {"token": "t"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
    "current-context": "x",
}


def _k8s_instance_overrides(values: dict[str, Any], kubeconfig: Path) -> dict[str, Any]:
    """The run launcher and concurrency sections of the dagster.yaml that the chart renders
    from our values (its templates `_run-launcher.tpl`, `_concurrency.tpl`, mapped by hand; no
    helm here), with a kubeconfig file in place of the in-cluster config."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    pools = values["concurrency"]["pools"]
    return {
        "run_launcher": {
            "module": "dagster_k8s",
            "class": "K8sRunLauncher",
            "config": {
                "load_incluster_config": False,  # the values: true, which needs a cluster
                "kubeconfig_file": str(kubeconfig),
                "job_namespace": launcher["jobNamespace"] or "import-pipeline",
                "image_pull_policy": launcher["imagePullPolicy"],
                "service_account_name": "dagster",
                "dagster_home": values["global"]["dagsterHome"],
                "instance_config_map": "dagster-instance",
                "postgres_password_secret": values["global"]["postgresqlSecretName"],
            },
        },
        "concurrency": {
            "pools": {"default_limit": pools["defaultLimit"], "granularity": pools["granularity"]}
        },
    }


def test_the_instance_loads_the_k8s_run_launcher_and_the_writer_pool(values, tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_FAKE_KUBECONFIG), encoding="utf-8")
    local = _yaml(ROOT / "import_pipeline" / "orchestration" / "dagster.yaml")
    assert values["concurrency"]["enabled"] is True
    # The cluster's limit of the pool is the local instance's.
    assert (
        values["concurrency"]["pools"]["defaultLimit"]
        == local["concurrency"]["pools"]["default_limit"]
    )
    assert process_import_batch.pool == WRITER_POOL == "reference_writers"

    with dg.instance_for_test(overrides=_k8s_instance_overrides(values, kubeconfig)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, K8sRunLauncher)
        assert launcher.image_pull_policy == "IfNotPresent"
        pool_config = instance.get_concurrency_config().pool_config
        assert pool_config.default_pool_limit == 4
        assert pool_config.pool_granularity == PoolGranularity.OP


def test_the_k8s_choice_makes_the_k8s_step_executor_on_that_instance(
    values, tmp_path, clean_settings
):
    """With `IMPORT_PIPELINE_EXECUTOR=k8s` a run's executor is dagster-k8s's step executor
    (one Kubernetes Job per step), built when the run starts, on the chart's instance."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(_FAKE_KUBECONFIG), encoding="utf-8")
    clean_settings.setenv("IMPORT_PIPELINE_EXECUTOR", "k8s")
    job = dg.reconstructable(import_job_from_environment)
    with dg.instance_for_test(overrides=_k8s_instance_overrides(values, kubeconfig)) as instance:
        creation = import_executor.executor_creation_fn
        assert creation is not None
        executor = creation(
            InitExecutorContext(
                job=job, executor_def=import_executor, executor_config={}, instance=instance
            )
        )
    assert isinstance(executor, StepDelegatingExecutor)
    assert type(executor._step_handler).__name__ == "K8sStepHandler"
