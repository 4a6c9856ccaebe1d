#!/bin/sh
# Registers each Docket subject's schema, then sets the subject's compatibility: the exact text the codec
# registers (files/schemas/<subject>.json, checked against the codec by the test suite), so the
# services find their schema already there. An incompatible schema fails the Job, and with it
# the install or upgrade, before any new pod starts.
# Environment: REGISTRY_URL, COMPATIBILITY, SCHEMAS_DIR.
set -eu
content_type='Content-Type: application/vnd.schemaregistry.v1+json'
retry="--retry 10 --retry-connrefused --retry-delay 3"
for file in "$SCHEMAS_DIR"/*.json; do
  subject=$(basename "$file" .json)
  echo "setup: subject $subject: registering"
  # shellcheck disable=SC2086
  curl -sS --fail-with-body $retry -X POST -H "$content_type" \
    --data "@$file" "$REGISTRY_URL/subjects/$subject/versions"
  echo
  echo "setup: subject $subject: compatibility $COMPATIBILITY"
  # shellcheck disable=SC2086
  curl -sS --fail-with-body $retry -X PUT -H "$content_type" \
    --data "{\"compatibility\":\"$COMPATIBILITY\"}" "$REGISTRY_URL/config/$subject"
  echo
done
