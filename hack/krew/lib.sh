# shellcheck shell=bash
# Shared by hack/dist.sh and hack/krew.sh (sourced, never run). Callers set -euo pipefail
# and cd to the repository root first.

# Release platforms, os/arch as Go spells them. PLATFORMS (env, comma or space separated)
# narrows a local build, e.g. PLATFORMS=linux/amd64 hack/dist.sh.
RELEASE_PLATFORMS_DEFAULT="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64"
RELEASE_BINARY=kubectl-gitops

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() {
	printf '%s: error: %s\n' "${0##*/}" "$*" >&2
	exit 1
}

need() {
	local cmd
	for cmd in "$@"; do
		command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' is required but not on PATH"
	done
}

# is_semver V: V is a v-prefixed Semantic Versioning 2.0 version (what krew accepts).
is_semver() {
	local re='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-([0-9A-Za-z.-]+))?(\+([0-9A-Za-z.-]+))?$'
	[[ $1 =~ $re ]] || return 1
	local pre=${BASH_REMATCH[5]} build=${BASH_REMATCH[7]} id part
	local -a ids
	for part in "$pre" "$build"; do
		[[ $part == .* || $part == *. || $part == *..* ]] && return 1
	done
	[[ -z $pre ]] && return 0
	IFS=. read -ra ids <<<"$pre"
	for id in "${ids[@]}"; do
		# numeric pre-release identifiers must not have leading zeros
		[[ $id =~ ^0[0-9]+$ ]] && return 1
	done
	return 0
}

# release_version prints $VERSION, or `git describe --tags --always --dirty`, or v0.0.0-dev,
# made into a v-semver: "1.2.3" -> "v1.2.3"; "v1.2.3-rc.01" -> "v1.2.3-rc.g01"; anything
# else -> "v0.0.0-<it, sanitised>" (a bare commit hash -> "v0.0.0-g<hash>", as git describe).
release_version() {
	local v=${VERSION:-}
	if [[ -z $v ]]; then
		v=$(git describe --tags --always --dirty 2>/dev/null) || v=v0.0.0-dev
	fi
	if is_semver "$v"; then
		printf '%s\n' "$v"
		return
	fi
	if is_semver "v$v"; then
		printf 'v%s\n' "$v"
		return
	fi
	local s core pre id out
	local -a ids
	s=$(printf '%s' "$v" | LC_ALL=C tr -c 'A-Za-z0-9.-' '-')
	if [[ $s =~ ^v?((0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*))(-(.*))?$ ]]; then
		core=${BASH_REMATCH[1]} pre=${BASH_REMATCH[6]}
	else
		core=0.0.0 pre=$s
		# a bare commit hash (git describe --always without tags) reads as git describe's "g<hash>"
		[[ $pre =~ ^[0-9a-f]{7,40}(-dirty)?$ ]] && pre=g$pre
	fi
	# pre-release identifiers: no empty ones, no numeric ones with a leading zero
	IFS=. read -ra ids <<<"$pre"
	out=
	for id in "${ids[@]}"; do
		id=$(printf '%s' "$id" | LC_ALL=C tr -s '-')
		[[ -z $id || $id == - ]] && continue
		[[ $id =~ ^0[0-9]+$ ]] && id=g$id
		out+=${out:+.}$id
	done
	s=v$core${out:+-$out}
	[[ $core == 0.0.0 && -z $out ]] && s=v0.0.0-dev
	is_semver "$s" || die "cannot make a semantic version of '$v' (got '$s'); set VERSION=vX.Y.Z"
	log "version '$v' is not v-semver; using $s"
	printf '%s\n' "$s"
}

# release_platforms prints the platforms to build, one os/arch per line.
release_platforms() {
	local list=${PLATFORMS:-$RELEASE_PLATFORMS_DEFAULT} p
	local -a ps
	read -ra ps <<<"${list//,/ }"
	[[ ${#ps[@]} -gt 0 ]] || die "PLATFORMS is empty"
	for p in "${ps[@]}"; do
		[[ " $RELEASE_PLATFORMS_DEFAULT " == *" $p "* ]] ||
			die "unsupported platform '$p' in PLATFORMS (supported: $RELEASE_PLATFORMS_DEFAULT)"
		printf '%s\n' "$p"
	done
}

# archive_name VERSION OS ARCH prints the archive's file name that hack/dist.sh writes.
archive_name() {
	local ext=tar.gz
	[[ $2 == windows ]] && ext=zip
	printf '%s_%s_%s_%s.%s\n' "$RELEASE_BINARY" "$1" "$2" "$3" "$ext"
}

# sha256_of FILE prints the file's lowercase sha256.
sha256_of() {
	local sum
	if command -v sha256sum >/dev/null 2>&1; then
		sum=$(sha256sum -- "$1")
	else
		sum=$(shasum -a 256 -- "$1")
	fi
	printf '%s\n' "${sum%% *}" | tr 'A-F' 'a-f'
}
