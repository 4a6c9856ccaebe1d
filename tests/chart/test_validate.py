"""helm lint, and every rendered manifest validated: Kubernetes kinds against the Kubernetes
schemas (kubernetes-validate), the KEDA and Prometheus Operator kinds against the schemas
derived from their CRDs (schemas/README.md)."""

import pathlib
import subprocess

import yaml

from conftest import BASE, CHART, VALUES, helm, render

SCHEMAS = pathlib.Path(__file__).resolve().parent / "schemas"
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): SCHEMAS / "keda-scaledobject-v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SCHEMAS / "monitoring-servicemonitor-v1.json",
}


def write_each(manifests, directory):
    """One file per manifest, named by kind and name; returns the paths."""
    paths = []
    for i, m in enumerate(manifests):
        path = directory / f"{i:02d}-{m['kind']}-{m['metadata']['name']}.yaml"
        path.write_text(yaml.safe_dump(m))
        paths.append((m, path))
    return paths


def test_helm_lint_strict(value_set):
    run = subprocess.run(
        [helm(), "lint", "--strict", str(CHART), "-f", str(BASE), "-f", str(VALUES / f"{value_set}.yaml")],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_kubernetes_kinds_match_the_kubernetes_schemas(manifests, tmp_path):
    paths = [p for m, p in write_each(manifests, tmp_path) if (m["apiVersion"], m["kind"]) not in CRD_SCHEMAS]
    assert paths
    run = subprocess.run(
        ["kubernetes-validate", "--strict", "--quiet", *map(str, paths)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_custom_resources_match_their_crd_schemas(manifests, tmp_path):
    for m, path in write_each(manifests, tmp_path):
        schema = CRD_SCHEMAS.get((m["apiVersion"], m["kind"]))
        if schema is None:
            continue
        run = subprocess.run(
            ["check-jsonschema", "--schemafile", str(schema), str(path)], capture_output=True, text=True
        )
        assert run.returncode == 0, run.stdout + run.stderr


def test_everything_renders_every_kind():
    kinds = {m["kind"] for m in render("everything")}
    assert {
        "StatefulSet",
        "Service",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "ServiceMonitor",
        "ScaledObject",
        "Job",
        "ConfigMap",
        "ServiceAccount",
    } <= kinds


def test_crd_schemas_refuse_a_typo(tmp_path):
    """The vendored schemas are strict enough to catch a misspelt field."""
    so = next(m for m in render("keda") if m["kind"] == "ScaledObject")
    so["spec"]["maxReplicas"] = so["spec"].pop("maxReplicaCount")
    path = tmp_path / "so.yaml"
    path.write_text(yaml.safe_dump(so))
    schema = CRD_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")]
    run = subprocess.run(["check-jsonschema", "--schemafile", str(schema), str(path)], capture_output=True)
    assert run.returncode != 0


def test_values_schema_is_a_valid_json_schema():
    run = subprocess.run(
        ["check-jsonschema", "--check-metaschema", str(CHART / "values.schema.json")], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_chart_packages(tmp_path):
    run = subprocess.run([helm(), "package", str(CHART), "-d", str(tmp_path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    (archive,) = tmp_path.glob("docket-*.tgz")
    listing = subprocess.run(["tar", "-tzf", str(archive)], capture_output=True, text=True).stdout.split()
    for needed in ["docket/files/topics.conf", "docket/values.schema.json", "docket/templates/NOTES.txt"]:
        assert needed in listing, needed
    assert sum(name.startswith("docket/files/schemas/") for name in listing) == 4
