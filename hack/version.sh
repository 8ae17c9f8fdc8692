#!/usr/bin/env bash
# Prints the version to stamp: $VERSION if set, else `git describe`, as a v-semver krew accepts.
set -euo pipefail
if [[ -n "${VERSION:-}" ]]; then echo "$VERSION"; exit 0; fi
v=$(git describe --tags --always --dirty 2>/dev/null || true)
if [[ "$v" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then echo "$v"; exit 0; fi
echo "v0.0.0-dev${v:+.$v}" | tr -c 'a-zA-Z0-9.\n-' '-'
