"""Turns a CustomResourceDefinition into the JSON Schema that check-jsonschema validates against.

Used once, by hand, to produce the files in `schemas/` (see `schemas/README.md`): the CRD's
`openAPIV3Schema` for one version, with descriptions dropped (to keep the vendored files small),
Kubernetes' `x-kubernetes-int-or-string` spelled as plain JSON Schema, and unknown fields refused
wherever the CRD lists the fields (the API server would prune them silently; a typo should fail).

    python crd_to_schema.py CRD.yaml VERSION > schemas/NAME.json
"""

import json
import sys

import yaml


def convert(node):
    """One schema node, converted recursively."""
    if isinstance(node, list):
        return [convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "description" and isinstance(value, str):
            continue
        if key.startswith("x-kubernetes-"):
            continue
        out[key] = convert(value)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in out and "additionalProperties" not in out and not node.get(
        "x-kubernetes-preserve-unknown-fields"
    ):
        out["additionalProperties"] = False
    return out


def main():
    path, version = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        crd = yaml.safe_load(f)
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema = convert(entry["schema"]["openAPIV3Schema"])
            # metadata is validated by Kubernetes itself, not by the CRD.
            schema["properties"]["metadata"] = {"type": "object"}
            schema["$schema"] = "http://json-schema.org/draft-07/schema#"
            schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "spec"})
            json.dump(schema, sys.stdout, indent=1, sort_keys=True)
            sys.stdout.write("\n")
            return
    sys.exit(f"{path}: no version {version}")


if __name__ == "__main__":
    main()
