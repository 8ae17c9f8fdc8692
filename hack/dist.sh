#!/usr/bin/env bash
# hack/dist.sh (make dist): cross-build kubectl-gitops and pack the release archives.
#
#   dist/kubectl-gitops_<VERSION>_<os>_<arch>.tar.gz   (.zip for windows)
#   dist/checksums.txt                                  (sha256sum format)
#
# Each archive holds the binary (kubectl-gitops / kubectl-gitops.exe), LICENSE and,
# when hack/kubectl_complete-gitops exists, that completion helper.
#
# Environment:
#   VERSION             release version (default: git describe --tags --always --dirty,
#                       else v0.0.0-dev); a non-semver becomes v0.0.0-<it>
#   SOURCE_DATE_EPOCH   build date and archive mtimes (default: HEAD's commit time)
#   PLATFORMS           os/arch list to build (default: linux, darwin, windows x amd64, arm64)
#   DIST_DIR            output directory (default: dist); it is emptied first
#
# Needs go and sha256sum (or shasum); the archives are written by hack/krew/distpack (Go).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=hack/krew/lib.sh
source hack/krew/lib.sh

need go

readonly PKG=github.com/kubectl-gitops/kubectl-gitops/pkg/buildinfo
readonly MAIN=./cmd/kubectl-gitops
[[ -f $MAIN/main.go ]] || die "$MAIN/main.go not found"
[[ -f LICENSE ]] || die "LICENSE not found at the repository root"

VERSION=$(release_version)
PLATFORM_LIST=$(release_platforms)
mapfile -t PLATFORMS_TO_BUILD <<<"$PLATFORM_LIST"
DIST_DIR=${DIST_DIR:-dist}

GIT_COMMIT=$(git rev-parse HEAD 2>/dev/null) || GIT_COMMIT=unknown
if [[ -z ${SOURCE_DATE_EPOCH:-} ]]; then
	if ! SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null) || [[ -z $SOURCE_DATE_EPOCH ]]; then
		SOURCE_DATE_EPOCH=$(date +%s)
		log "no commit to date the build from; using the current time"
	fi
fi
[[ $SOURCE_DATE_EPOCH =~ ^[0-9]+$ ]] || die "SOURCE_DATE_EPOCH must be seconds since the epoch, not '$SOURCE_DATE_EPOCH'"
export SOURCE_DATE_EPOCH
BUILD_DATE=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
	date -u -r "$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)

COMPLETION=
for f in hack/kubectl_complete-gitops kubectl_complete-gitops; do
	if [[ -f $f ]]; then
		COMPLETION=$f
		break
	fi
done
[[ -n $COMPLETION ]] || log "no kubectl_complete-gitops found; archives ship without it"

# The same build tags as `make build` (Makefile: GOTAGS), and issue 19's ceiling for the binary.
GOTAGS=${GOTAGS:-disable_grpc_modules}
MAX_BINARY_BYTES=100000000
LDFLAGS="-s -w -X $PKG.Version=$VERSION -X $PKG.GitCommit=$GIT_COMMIT -X $PKG.BuildDate=$BUILD_DATE"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-gitops-dist.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT

mkdir -p "$DIST_DIR"
DIST_ABS=$(cd "$DIST_DIR" && pwd)
[[ $DIST_ABS != / && $DIST_ABS != "$ROOT" && $DIST_ABS != "${HOME:-}" ]] || die "refusing to empty DIST_DIR=$DIST_DIR"
rm -rf "${DIST_ABS:?}"/*

# The packer writes reproducible archives: sorted entries, fixed mtime, owner 0, fixed modes.
go build -o "$STAGE/distpack" ./hack/krew/distpack

log "version $VERSION, commit $GIT_COMMIT, build date $BUILD_DATE"
for platform in "${PLATFORMS_TO_BUILD[@]}"; do
	os=${platform%/*}
	arch=${platform#*/}
	bin=$RELEASE_BINARY
	[[ $os == windows ]] && bin=$bin.exe
	dir=$STAGE/${os}_${arch}
	mkdir -p "$dir"

	log "building $os/$arch"
	# GOAMD64/GOARM64 pinned to the baseline so the release runs on every CPU of the arch.
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch GOAMD64=v1 GOARM64=v8.0 \
		go build -trimpath -buildvcs=false -tags "$GOTAGS" -ldflags "$LDFLAGS" -o "$dir/$bin" "$MAIN"
	size=$(wc -c <"$dir/$bin")
	((size < MAX_BINARY_BYTES)) || die "$os/$arch binary is $size bytes, over the $MAX_BINARY_BYTES the release keeps to (README: Binary size)"

	cp LICENSE "$dir/LICENSE"
	files=("$bin" LICENSE)
	if [[ -n $COMPLETION ]]; then
		cp "$COMPLETION" "$dir/kubectl_complete-gitops"
		chmod 0755 "$dir/kubectl_complete-gitops"
		files+=(kubectl_complete-gitops)
	fi
	chmod 0755 "$dir/$bin"
	chmod 0644 "$dir/LICENSE"

	out=$DIST_ABS/$(archive_name "$VERSION" "$os" "$arch")
	"$STAGE/distpack" --dir "$dir" --mtime "$SOURCE_DATE_EPOCH" --out "$out" "${files[@]}"
	log "wrote ${out#"$ROOT"/}"
done

(
	cd "$DIST_ABS"
	for f in "$RELEASE_BINARY"_*; do
		printf '%s  %s\n' "$(sha256_of "$f")" "$f"
	done
) >"$DIST_ABS/checksums.txt"
log "wrote ${DIST_ABS#"$ROOT"/}/checksums.txt"
