#!/usr/bin/env bash
# hack/krew.sh: the krew plugin manifest (krew/gitops.yaml) and its checks.
#
#   hack/krew.sh manifest      write krew/gitops.yaml from the archives in dist/ (make krew-manifest)
#   hack/krew.sh validate      krew's validate-krew-manifest on it, without installing (make krew-validate)
#   hack/krew.sh install-test  krew-install the host's archive into a throwaway KREW_ROOT, run
#                              `kubectl gitops version` through kubectl's plugin discovery, and check
#                              that krew refuses a wrong sha256 and that an archive without LICENSE
#                              is rejected (make krew-install-test)
#   hack/krew.sh tools         build krew and validate-krew-manifest into bin/tools/
#
# Environment: VERSION (as hack/dist.sh; install-test takes the manifest's), DIST_DIR (dist),
# PLATFORMS (as hack/dist.sh), URL_TEMPLATE (GitHub release download URL), KUBECTL (kubectl).
# krew's tools are pinned in krew/tools.mod, apart from the project's go.mod.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=hack/krew/lib.sh
source hack/krew/lib.sh

readonly MANIFEST=krew/gitops.yaml
readonly TOOLS_DIR=bin/tools
DIST_DIR=${DIST_DIR:-dist}
URL_TEMPLATE=${URL_TEMPLATE:-'https://github.com/kubectl-gitops/kubectl-gitops/releases/download/{{.Version}}/{{.File}}'}
KUBECTL=${KUBECTL:-kubectl}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}

# platforms_csv prints PLATFORMS as krewgen's --platforms list.
platforms_csv() {
	local list
	list=$(release_platforms)
	printf '%s\n' "${list//$'\n'/,}"
}

build_tools() {
	need go
	log "building krew and validate-krew-manifest (krew/tools.mod) into $TOOLS_DIR/"
	mkdir -p "$TOOLS_DIR"
	GOWORK=off go build -modfile=krew/tools.mod -o "$TOOLS_DIR/" \
		sigs.k8s.io/krew/cmd/krew sigs.k8s.io/krew/cmd/validate-krew-manifest
}

cmd_manifest() {
	need go
	local version platforms
	version=$(release_version)
	platforms=$(platforms_csv)
	[[ -d $DIST_DIR ]] || die "$DIST_DIR/ not found: run hack/dist.sh (make dist) first"
	go run ./hack/krew/krewgen --version "$version" --dist "$DIST_DIR" --platforms "$platforms" \
		--url-template "$URL_TEMPLATE" --out "$MANIFEST" ||
		die "could not write $MANIFEST from $DIST_DIR/ (is dist/ from hack/dist.sh for $version?)"
}

cmd_validate() {
	[[ -f $MANIFEST ]] || die "$MANIFEST not found: run hack/krew.sh manifest (make krew-manifest) first"
	build_tools
	log "validate-krew-manifest -manifest $MANIFEST -skip-install"
	"$TOOLS_DIR/validate-krew-manifest" -manifest "$MANIFEST" -skip-install ||
		die "$MANIFEST is not a valid krew manifest"
	log "OK: $MANIFEST is a valid krew plugin manifest"
}

# krew_install ROOT LOG ARGS...: krew install into the krew home ROOT, output to LOG.
krew_install() {
	local root=$1 logfile=$2
	shift 2
	KREW_ROOT=$root KREW_NO_UPGRADE_CHECK=1 PATH="$root/bin:$PATH" \
		"$ROOT/$TOOLS_DIR/krew" install "$@" </dev/null >"$logfile" 2>&1
}

cmd_install_test() {
	need go "$KUBECTL"
	[[ -f $MANIFEST ]] || die "$MANIFEST not found: run hack/krew.sh manifest (make krew-manifest) first"
	# The version under test is the manifest's (so a tree made dirty by writing the manifest
	# does not change it); VERSION, when set, must agree.
	local version goos goarch archive sha
	version=$(sed -n 's/^  version: "\(.*\)"$/\1/p' "$MANIFEST")
	[[ -n $version ]] || die "cannot read spec.version from $MANIFEST"
	if [[ -n ${VERSION:-} && $(release_version) != "$version" ]]; then
		die "$MANIFEST is for $version, not VERSION=$VERSION: run hack/krew.sh manifest (make krew-manifest)"
	fi
	goos=$(go env GOHOSTOS)
	goarch=$(go env GOHOSTARCH)
	archive=$DIST_DIR/$(archive_name "$version" "$goos" "$goarch")
	[[ -f $archive ]] || die "$archive not found: run hack/dist.sh (make dist) for $version first"
	sha=$(sha256_of "$archive")
	grep -qF "sha256: \"$sha\"" "$MANIFEST" ||
		die "$MANIFEST does not hold the sha256 of $archive ($sha): it is stale, run hack/krew.sh manifest"
	build_tools

	local tmp
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-gitops-krew.XXXXXX")
	# shellcheck disable=SC2064 # expand $tmp now: it is local to this function
	trap "rm -rf '$tmp'" EXIT

	# 1. Install from the manifest and the local archive, as a user's `kubectl krew install` would.
	local krew_root=$tmp/krew
	log "krew install --manifest=$MANIFEST --archive=$archive (KREW_ROOT=$krew_root)"
	if ! krew_install "$krew_root" "$tmp/install.log" --manifest="$MANIFEST" --archive="$archive"; then
		cat "$tmp/install.log" >&2
		die "krew install of $archive failed"
	fi
	local installed=$krew_root/store/gitops/$version
	[[ -f $installed/LICENSE ]] || die "krew did not install LICENSE into $installed"
	[[ -x $krew_root/bin/kubectl-gitops ]] || die "krew did not link kubectl-gitops into $krew_root/bin"

	# 2. Run it through kubectl's plugin discovery (PATH lookup of kubectl-gitops).
	local out found
	found=$(PATH="$krew_root/bin:$PATH" command -v kubectl-gitops)
	[[ $found == "$krew_root/bin/kubectl-gitops" ]] ||
		die "kubectl-gitops resolves to $found, not krew's $krew_root/bin/kubectl-gitops"
	log "$KUBECTL gitops version (PATH=$krew_root/bin:\$PATH)"
	if ! out=$(PATH="$krew_root/bin:$PATH" KUBECONFIG=/dev/null "$KUBECTL" gitops version 2>&1); then
		printf '%s\n' "$out" >&2
		die "'$KUBECTL gitops version' failed"
	fi
	printf '%s\n' "$out" | sed 's/^/    /' >&2
	grep -qwF -- "$version" <<<"$out" ||
		die "'$KUBECTL gitops version' did not print $version"
	if ! out=$(PATH="$krew_root/bin:$PATH" KUBECONFIG=/dev/null "$KUBECTL" gitops version -o json 2>&1); then
		printf '%s\n' "$out" >&2
		die "'$KUBECTL gitops version -o json' failed"
	fi
	grep -qE '"buildDate": *"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z"' <<<"$out" ||
		die "the installed binary has no build date stamped in: $out"
	log "OK: krew installed $version and kubectl runs it as 'kubectl gitops'"

	# 3. A manifest whose linux/amd64 (host) sha256 is wrong must make krew install fail.
	mkdir -p "$tmp/bad-sha"
	local zeros
	zeros=$(printf '%064d' 0)
	sed "s/sha256: \"$sha\"/sha256: \"$zeros\"/" "$MANIFEST" >"$tmp/bad-sha/gitops.yaml"
	if cmp -s "$MANIFEST" "$tmp/bad-sha/gitops.yaml"; then
		die "could not make a wrong-sha256 manifest"
	fi
	log "negative: krew install with a wrong sha256 for $goos/$goarch must fail"
	if krew_install "$tmp/krew-bad-sha" "$tmp/bad-sha.log" \
		--manifest="$tmp/bad-sha/gitops.yaml" --archive="$archive"; then
		cat "$tmp/bad-sha.log" >&2
		die "krew installed $archive although the manifest's sha256 is wrong"
	fi
	grep -qiE 'checksum|sha256' "$tmp/bad-sha.log" || {
		cat "$tmp/bad-sha.log" >&2
		die "krew install failed, but not on the checksum"
	}
	[[ ! -e $tmp/krew-bad-sha/bin/kubectl-gitops ]] || die "krew left kubectl-gitops installed after the checksum failure"
	log "OK: krew refused the wrong sha256: $(grep -iE -m1 'checksum|sha256' "$tmp/bad-sha.log")"

	# 4. The same archive repacked without LICENSE must be rejected, by krewgen and by krew.
	local unpack=$tmp/unpack nolic=$tmp/no-license name
	name=$(basename "$archive")
	mkdir -p "$unpack" "$nolic/krew"
	case $archive in
	*.zip) need unzip && unzip -q "$archive" -d "$unpack" ;;
	*) tar -xzf "$archive" -C "$unpack" ;;
	esac
	rm -f "$unpack/LICENSE"
	local -a files=()
	local f
	for f in "$unpack"/*; do
		[[ -f $f ]] && files+=("${f##*/}")
	done
	go run ./hack/krew/distpack --dir "$unpack" --out "$nolic/$name" "${files[@]}"
	log "negative: krewgen must reject $name without LICENSE"
	if go run ./hack/krew/krewgen --version "$version" --dist "$nolic" --platforms "$goos/$goarch" \
		--url-template "$URL_TEMPLATE" --out "$nolic/krew/gitops.yaml" 2>"$tmp/krewgen.log"; then
		die "krewgen accepted $name without LICENSE"
	fi
	grep -q "missing LICENSE" "$tmp/krewgen.log" || {
		cat "$tmp/krewgen.log" >&2
		die "krewgen failed on the LICENSE-less archive, but not for the missing LICENSE"
	}
	log "OK: krewgen refused it: $(head -n1 "$tmp/krewgen.log")"

	local nolic_sha
	nolic_sha=$(sha256_of "$nolic/$name")
	sed "s/sha256: \"$sha\"/sha256: \"$nolic_sha\"/" "$MANIFEST" >"$nolic/krew/gitops.yaml"
	log "negative: krew install of $name without LICENSE (right sha256) must fail"
	if krew_install "$tmp/krew-no-license" "$tmp/no-license.log" \
		--manifest="$nolic/krew/gitops.yaml" --archive="$nolic/$name"; then
		cat "$tmp/no-license.log" >&2
		die "krew installed an archive without LICENSE"
	fi
	grep -q 'LICENSE' "$tmp/no-license.log" || {
		cat "$tmp/no-license.log" >&2
		die "krew install failed on the LICENSE-less archive, but not for LICENSE"
	}
	log "OK: krew refused it: $(grep -m1 'LICENSE' "$tmp/no-license.log")"

	log "PASS: krew install test for $version ($goos/$goarch)"
}

[[ $# -eq 1 ]] || usage
case $1 in
manifest) cmd_manifest ;;
validate) cmd_validate ;;
install-test) cmd_install_test ;;
tools) build_tools ;;
-h | --help | help) usage ;;
*)
	log "unknown command '$1'"
	usage
	;;
esac
