#!/usr/bin/env bash
# Generates the Python SDK from openapi/openapi.json into $1 (default: sdk/python/veza-client)
# with the pinned openapi-python-client; `just sdk` and the drift test (tests/sdk.rs) run this.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/veza-client}"
# The generator and the formatter it runs on its output, both exact: either may change the code.
version=0.29.1 ruff=0.17.6
if [ "$(openapi-python-client --version 2>/dev/null)" != "openapi-python-client version: $version" ] \
  || [ "$(ruff --version 2>/dev/null)" != "ruff $ruff" ]; then
  python3 -m pip install --quiet "openapi-python-client==$version" "ruff==$ruff" 2>/dev/null \
    || python3 -m pip install --quiet --user --break-system-packages "openapi-python-client==$version" "ruff==$ruff"
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
python3 "$here/prepare_spec.py" "$here/../../openapi/openapi.json" "$scratch/spec.json"
openapi-python-client generate --path "$scratch/spec.json" --config "$here/config.yaml" \
  --meta setup --output-path "$out" --overwrite >"$scratch/log" 2>&1 \
  || { cat "$scratch/log" >&2; exit 1; }
# Any warning means part of the spec was left out of the client: fail rather than ship it.
if grep -q "^WARNING" "$scratch/log"; then cat "$scratch/log" >&2; exit 1; fi
# ruff's cache is not part of the package.
rm -rf "$out/.ruff_cache"
