"""Renders the Helm chart for the value sets in `values/` and hands the manifests to the tests."""

import functools
import os
import pathlib
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "docket"
VALUES = pathlib.Path(__file__).resolve().parent / "values"
BASE = VALUES / "base.yaml"
# The value sets the issue names: everything on, S3 only, KEDA on, OTLP only.
VALUE_SETS = ["everything", "s3-only", "keda", "otlp-only"]
RELEASE = "audit"
NAMESPACE = "docket"


def helm():
    """The helm binary dev/check-chart installed."""
    return os.environ.get("DOCKET_HELM", "helm")


def helm_args(value_set, *extra):
    """`helm template` arguments for a value set (with the base values) and extra flags."""
    files = ["-f", str(BASE)]
    if value_set:
        files += ["-f", str(VALUES / f"{value_set}.yaml")]
    return [helm(), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *files, *extra]


@functools.lru_cache(maxsize=None)
def render_text(value_set, *extra):
    """The rendered manifests as one YAML stream; fails the test with helm's message."""
    run = subprocess.run(helm_args(value_set, *extra), capture_output=True, text=True)
    assert run.returncode == 0, f"helm template failed:\n{run.stderr}"
    return run.stdout


def render_error(value_set, *extra):
    """helm's error message for a render that must be refused."""
    run = subprocess.run(helm_args(value_set, *extra), capture_output=True, text=True)
    assert run.returncode != 0, "helm template accepted values it should refuse"
    return run.stderr


def render(value_set, *extra):
    """The rendered manifests as a list of objects."""
    return [doc for doc in yaml.safe_load_all(render_text(value_set, *extra)) if doc]


def of_kind(manifests, kind):
    return [m for m in manifests if m["kind"] == kind]


def named(manifests, kind, name):
    found = [m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def pod_specs(manifests):
    """(owner name, pod spec) of every workload: Deployments, StatefulSets, Jobs."""
    return [
        (m["metadata"]["name"], m["spec"]["template"]["spec"])
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job", "DaemonSet", "CronJob")
    ]


def containers(spec):
    return spec.get("initContainers", []) + spec["containers"]


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


@pytest.fixture(params=VALUE_SETS)
def value_set(request):
    return request.param


@pytest.fixture
def manifests(value_set):
    return render(value_set)
