#!/usr/bin/env bash
# Every object in deploy/kubernetes against the Kubernetes OpenAPI schema, then the
# validator's self-test (tests/deploy/schema/). npm ci installs the pinned
# kubernetes-models and yaml into a copy of the validator in the build directory, so
# that the source tree stays as it is.
# usage: kubernetes_schema.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
SOURCE=$1
WORK=$2/kubernetes-schema
for tool in node npm; do
    command -v $tool >/dev/null ||
        { echo "SKIP: no $tool (scripts/install-deps.sh installs nodejs and npm)"; exit 77; }
done

rm -rf "$WORK"
mkdir -p "$WORK"
cp "$SOURCE"/tests/deploy/schema/{package.json,package-lock.json,*.mjs} "$WORK"
(cd "$WORK" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
status=0
node "$WORK/validate.mjs" "$SOURCE/deploy/kubernetes" || status=1
node "$WORK/selftest.mjs" "$SOURCE/deploy/kubernetes" || status=1
exit $status
