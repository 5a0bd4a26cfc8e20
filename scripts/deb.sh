#!/usr/bin/env bash
# Builds the Debian packages: dist/safepoint_<version>_<arch>.deb for amd64,
# arm64 and armhf (GOARM=6: a Pi Zero runs it too), static with CGO off,
# packed by nfpm (the Go tool pinned in go.mod) from packaging/nfpm.yaml.
#
# The version is `git describe --tags --always --dirty` made Debian-valid:
#   v1.2.3                 1.2.3
#   v1.2.3-rc1             1.2.3~rc1                   (before 1.2.3)
#   v1.2.3-4-gabc1234      1.2.3+git20261207040210.abc1234
#   abc1234 (no tag)       0.0~git20261207040210.abc1234
# with +dirty after any of them for a tree with uncommitted changes. The
# date is the commit's (UTC), so later commits sort higher and a build is
# reproducible: it is also SOURCE_DATE_EPOCH, the files' time in the package.
#
# `scripts/deb.sh version [DESCRIBE]` prints the version and builds nothing.
# Environment, all optional: DEB_ARCHES (default "amd64 arm64 armhf"),
# DEB_VERSION (the package's version), VERSION (the binary's, default git
# describe), DIST (default dist), DEB_BIN (a binary already built, for one
# arch), NFPM_CONFIG (default packaging/nfpm.yaml), DEB_MAINTAINER, GO.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
ARCHES=${DEB_ARCHES:-amd64 arm64 armhf}
NFPM_CONFIG=${NFPM_CONFIG:-packaging/nfpm.yaml}
export DEB_MAINTAINER=${DEB_MAINTAINER:-Safepoint maintainers <maintainers@safepoint.invalid>}

describe=$(git describe --tags --always --dirty 2>/dev/null || echo unknown)
VERSION=${VERSION:-$describe}

# debian_version turns git describe's output into a Debian version.
debian_version() {
	local d=$1 dirty= base when sha
	if [[ $d == *-dirty ]]; then dirty=+dirty; d=${d%-dirty}; fi
	when=$(TZ=UTC git log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S 2>/dev/null || echo 0)
	if [[ $d =~ ^(.*)-([0-9]+)-g([0-9a-f]+)$ ]]; then
		base=${BASH_REMATCH[1]} sha=${BASH_REMATCH[3]}
		echo "$(tag_version "$base")+git$when.$sha$dirty"
	elif [[ $d =~ ^[0-9a-f]{4,40}$ ]]; then
		echo "0.0~git$when.$d$dirty"
	else
		echo "$(tag_version "$d")$dirty"
	fi
}

# tag_version is a tag as a Debian version: no leading v, a pre-release
# after ~ so that it sorts before the release.
tag_version() {
	local t=${1#v}
	t=${t/-/\~}
	[[ $t =~ ^[0-9] ]] || t="0.0~$t"
	echo "${t//[^A-Za-z0-9.+~]/.}"
}

# `scripts/deb.sh version [DESCRIBE]` only prints the Debian version.
if [ "${1:-}" = version ]; then
	debian_version "${2:-$describe}"
	exit 0
fi

DEB_VERSION=${DEB_VERSION:-$(debian_version "$describe")}
if command -v dpkg >/dev/null && ! dpkg --validate-version "$DEB_VERSION" 2>/dev/null; then
	echo "deb: $DEB_VERSION is not a valid Debian version" >&2
	exit 1
fi
export DEB_VERSION
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH

mkdir -p "$DIST"
for arch in $ARCHES; do
	case $arch in
	amd64) goarch=amd64 goarm= bin=safepoint-linux-amd64 ;;
	arm64) goarch=arm64 goarm= bin=safepoint-linux-arm64 ;;
	armhf) goarch=arm goarm=6 bin=safepoint-linux-armv6 ;;
	*) echo "deb: unknown arch $arch (amd64, arm64, armhf)" >&2; exit 2 ;;
	esac
	if [ -n "${DEB_BIN:-}" ]; then
		bin=$DEB_BIN
	else
		bin=$DIST/$bin
		echo "deb: go build $bin ($VERSION)"
		CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm $GO build -trimpath \
			-ldflags "-s -w -X main.version=$VERSION" -o "$bin" ./cmd/safepoint
	fi
	out=$DIST/safepoint_${DEB_VERSION}_$arch.deb
	# One package an arch in dist/, so that safepoint_*_ARCH.deb names it.
	rm -f "$DIST"/safepoint_*_"$arch".deb
	if ! log=$(DEB_ARCH=$arch DEB_BIN=$bin $GO tool nfpm package --config "$NFPM_CONFIG" --packager deb --target "$out" 2>&1); then
		echo "deb: nfpm: $log" >&2
		exit 1
	fi
	echo "deb: $out"
done
