"""The Dockerfile and the scripts around the image: hadolint and shellcheck clean, every Docket
binary the workspace builds is in the image, and every command the chart runs is one of them."""

import json
import re
import subprocess

from conftest import ROOT, containers, pod_specs, render


def dockerfile_binaries():
    text = (ROOT / "Dockerfile").read_text()
    return set(re.search(r'ARG BINARIES="([^"]+)"', text).group(1).split())


def test_hadolint_is_clean():
    run = subprocess.run(["hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr


def test_image_runs_as_a_numeric_non_root_user():
    users = re.findall(r"^USER\s+(\S+)", (ROOT / "Dockerfile").read_text(), re.M)
    assert users, "no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, uid


def test_every_workspace_binary_is_in_the_image():
    run = subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1", "--offline"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert run.returncode == 0, run.stderr
    bins = {
        t["name"]
        for p in json.loads(run.stdout)["packages"]
        for t in p["targets"]
        if "bin" in t["kind"] and t["name"].startswith("docket")
    }
    assert bins, "no binaries found"
    assert bins <= dockerfile_binaries(), f"missing from the Dockerfile: {sorted(bins - dockerfile_binaries())}"


def test_chart_commands_are_image_binaries():
    manifests = render("everything")
    commands = {c["command"][0] for _, spec in pod_specs(manifests) for c in containers(spec) if c["image"].startswith("docket/")}
    assert commands and commands <= dockerfile_binaries()


def test_shell_scripts_pass_shellcheck():
    scripts = [
        ROOT / "helm" / "docket" / "files" / "scripts" / "create-topics.sh",
        ROOT / "helm" / "docket" / "files" / "scripts" / "register-schemas.sh",
        ROOT / "dev" / "check-chart",
    ]
    run = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
