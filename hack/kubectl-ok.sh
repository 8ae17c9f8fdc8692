#!/usr/bin/env bash
# hack/kubectl-ok.sh VERSION: exit 0 when the kubectl on the PATH works with an API server of
# VERSION (vMAJOR.MINOR.PATCH): its client minor version within one of the server's, as
# kubectl's version skew policy allows. make demo then uses it instead of building one.
set -euo pipefail
want=${1#v}
want_major=${want%%.*}
rest=${want#*.}
want_minor=${rest%%.*}
command -v kubectl >/dev/null || exit 1
json=$(kubectl version --client -o json 2>/dev/null) || exit 1
# "minor" may carry a suffix ("32+").
major=$(sed -n 's/.*"major": *"\([0-9]*\).*/\1/p' <<<"$json" | head -n 1)
minor=$(sed -n 's/.*"minor": *"\([0-9]*\).*/\1/p' <<<"$json" | head -n 1)
[[ -n $major && -n $minor && $major == "$want_major" ]] || exit 1
((minor >= want_minor - 1 && minor <= want_minor + 1))
