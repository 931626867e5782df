"""The deploy files are checked, not just written.

Every manifest in ``deploy/kubernetes`` is validated against the Kubernetes API's own schemas
(kubernetes-validate ships them, so this runs offline), and the pieces must fit together: the
migration Job runs ``plughost db upgrade`` with the image the pods run, new pods wait for it,
every setting they are given exists, and the disruption budget and autoscaler point at the
Deployment. No container builder runs on these machines, so the Dockerfile is checked by running
its install steps, as written, in a fresh virtualenv, and then the commands the image runs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import venv
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from plughost.settings import ENV_PREFIX, HostSettings

ROOT = Path(__file__).parent.parent
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))
#: The oldest Kubernetes still supported upstream, and the newest the validator knows.
VERSIONS = ["1.31.0", kubernetes_validate.latest_version()]


def documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in documents() if doc["kind"] == kind]


def pod_specs() -> list[dict[str, Any]]:
    return [
        doc["spec"]["template"]["spec"] for doc in documents() if "template" in doc.get("spec", {})
    ]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", MANIFESTS, ids=lambda path: path.name)
def test_every_manifest_is_valid_for_the_kubernetes_api(path: Path, version: str) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_migration_job_runs_the_release_image_before_pods_serve() -> None:
    (job,) = by_kind("Job")
    (deployment,) = by_kind("Deployment")
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["plughost", "db", "upgrade"]
    pod = deployment["spec"]["template"]["spec"]
    (wait,) = pod["initContainers"]
    assert "plughost db status --check" in " ".join(wait["command"])
    images = {c["image"] for c in [migrate, wait, *pod["containers"]]}
    assert len(images) == 1, f"the Job, the init container and the server differ: {images}"
    config = next(doc for doc in by_kind("ConfigMap"))["data"]
    assert config["PLUGHOST_MIGRATE_ON_START"] == "refuse"
    assert config["PLUGHOST_STRICT"] == "true"


def test_the_autoscaler_owns_the_replica_count_and_the_budget_keeps_most_serving() -> None:
    (deployment,) = by_kind("Deployment")
    (hpa,) = by_kind("HorizontalPodAutoscaler")
    (pdb,) = by_kind("PodDisruptionBudget")
    assert "replicas" not in deployment["spec"]  # an apply would undo the autoscaler's choice
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert hpa["spec"]["minReplicas"] >= 2
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["maxUnavailable"] < hpa["spec"]["minReplicas"]


def setting_variables() -> set[str]:
    from test_docs import setting_variables as variables

    return set(variables(HostSettings))


def test_every_setting_given_to_a_pod_exists() -> None:
    known = setting_variables()
    given = set(next(doc for doc in by_kind("ConfigMap"))["data"])
    for spec in pod_specs():
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            given |= {env["name"] for env in container.get("env", [])}
    unknown = sorted(v for v in given if v.startswith(ENV_PREFIX) and v not in known)
    assert not unknown, f"no such setting: {unknown}"


def test_every_secret_a_pod_reads_is_in_the_secret() -> None:
    secret = next(doc for doc in by_kind("Secret"))
    keys = set(secret["stringData"])
    for spec in pod_specs():
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] == secret["metadata"]["name"] and ref["key"] in keys


def dockerfile_lines(instruction: str) -> list[str]:
    """The arguments of every ``instruction`` line of the Dockerfile, continuations joined."""
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    prefix = f"{instruction} "
    return [line[len(prefix) :].strip() for line in text.splitlines() if line.startswith(prefix)]


def dockerfile_runs() -> list[str]:
    """The RUN instructions that install Python packages."""
    return [run for run in dockerfile_lines("RUN") if re.match(r"pip (wheel|install)", run)]


def build_context(destination: Path) -> Path:
    """What the build stage's COPY lines put in its working directory, copied from here (so
    building never writes into the checkout)."""
    destination.mkdir()
    for copy in dockerfile_lines("COPY"):
        *sources, target = copy.split()
        if any(source.startswith("--from") for source in sources):
            continue
        for source in sources:
            place = destination / target if target not in ("./", ".") else destination
            if (ROOT / source).is_dir():
                shutil.copytree(
                    ROOT / source,
                    place,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".nox"),
                )
            else:
                shutil.copy(ROOT / source, place / source)
    return destination


def test_the_dockerfile_install_steps_work_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """``pip wheel`` in a copy of the build stage's /src, then the runtime stage's
    ``pip install`` from those wheels only, then what the image runs: strict plugin loading and
    the migrations, which must be inside the wheels."""
    steps = dockerfile_runs()
    assert [step.split()[1] for step in steps] == ["wheel", "install"], steps
    env_dir = tmp_path / "image"
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    wheels = tmp_path / "wheels"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PLUGHOST_", "VIRTUAL_ENV"))},
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PLUGHOST_DATA_DIR": str(tmp_path / "data"),
        "PLUGHOST_STRICT": "true",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    context = build_context(tmp_path / "src")
    for step in steps:
        command = ["sh", "-ec", step.replace("/wheels", shlex.quote(str(wheels)))]
        done = subprocess.run(
            command, cwd=context, env=env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, f"{step}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    console = "from importlib.resources import files; c = files('plughost.console'); " + (
        "print(sorted(p.name for p in c.joinpath('templates').iterdir()), "
        "c.joinpath('static/console.css').is_file())"
    )
    shipped = subprocess.run(
        [str(bin_dir / "python"), "-c", console], env=env, capture_output=True, text=True
    )
    assert "'plugins.html'" in shipped.stdout and "'traffic.html'" in shipped.stdout, shipped
    assert shipped.stdout.strip().endswith("True"), "the console's stylesheet is not in the wheel"
    plughost = str(bin_dir / "plughost")
    for args in (["plugins"], ["db", "upgrade"], ["db", "status", "--check"]):
        done = subprocess.run(
            [plughost, *args], env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"plughost {' '.join(args)}\n{done.stdout}\n{done.stderr}"
