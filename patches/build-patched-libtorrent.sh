#!/usr/bin/env bash
# Build a patched libtorrent-rasterbar 2.0.8 from the Debian source package
# into a separate prefix (default /opt/libtorrent-mt). The stock Debian
# library in /usr is never touched and stays the default for everything that
# does not explicitly build against the prefix.
#
# Steps: deb-src entry (if none) -> apt-get update -> build deps ->
# apt-get source -> apply patches/libtorrent-2.0.8/*.patch -> cmake -> build
# -> install into the prefix.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PATCH_DIR="$SCRIPT_DIR/libtorrent-2.0.8"

PREFIX=${PREFIX:-/opt/libtorrent-mt}
WORKDIR=${WORKDIR:-/tmp/ltpatch/src}
SOURCE_VERSION=${SOURCE_VERSION:-2.0.8-1}
JOBS=${JOBS:-$(nproc)}
DO_APT=1

SRC_LIST=/etc/apt/sources.list.d/megatorrent-src.sources
BUILD_DEPS=(build-essential dpkg-dev xz-utils cmake ninja-build pkg-config
	libboost-system-dev libssl-dev)

usage() {
	cat <<EOF
Usage: $(basename "$0") [options]

Builds libtorrent-rasterbar $SOURCE_VERSION from the Debian source package with
the patches in patches/libtorrent-2.0.8/ applied, and installs it into a
separate prefix. The system library in /usr is not modified.

Options:
  --prefix DIR          install prefix (default: $PREFIX, env PREFIX)
  --workdir DIR         where the source is fetched and built
                        (default: $WORKDIR, env WORKDIR)
  --jobs N              parallel build jobs (default: nproc = $JOBS, env JOBS)
  --source-version V    Debian source version to fetch (default: $SOURCE_VERSION)
  --no-apt              do not touch apt (no deb-src entry, no apt-get update,
                        no package installs); the build dependencies must be
                        installed and the source must already be in WORKDIR
  -h, --help            show this help

Needs root for the apt steps (adding $SRC_LIST if
no deb-src entry exists, apt-get update, installing the build dependencies).
Re-running is safe: an existing source tree is reused and patches that are
already applied are skipped.
EOF
}

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
		--prefix) [ $# -ge 2 ] || die "--prefix needs an argument"; PREFIX=$2; shift 2 ;;
		--prefix=*) PREFIX=${1#*=}; shift ;;
		--workdir) [ $# -ge 2 ] || die "--workdir needs an argument"; WORKDIR=$2; shift 2 ;;
		--workdir=*) WORKDIR=${1#*=}; shift ;;
		--jobs) [ $# -ge 2 ] || die "--jobs needs an argument"; JOBS=$2; shift 2 ;;
		--jobs=*) JOBS=${1#*=}; shift ;;
		--source-version) [ $# -ge 2 ] || die "--source-version needs an argument"; SOURCE_VERSION=$2; shift 2 ;;
		--source-version=*) SOURCE_VERSION=${1#*=}; shift ;;
		--no-apt) DO_APT=0; shift ;;
		-h|--help) usage; exit 0 ;;
		*) usage >&2; die "unknown option: $1" ;;
	esac
done

[[ "$JOBS" =~ ^[1-9][0-9]*$ ]] || die "--jobs must be a positive number, got '$JOBS'"
case "$PREFIX" in
	/*) ;;
	*) die "--prefix must be an absolute path, got '$PREFIX'" ;;
esac
PREFIX=${PREFIX%/}
# /usr and /usr/local are on the default library search path: installing
# there would replace (or shadow) the stock Debian library for every program.
case "$PREFIX" in
	""|/usr|/usr/*) die "refusing to install into '${PREFIX:-/}': that would shadow the system libtorrent; use a separate prefix such as /opt/libtorrent-mt" ;;
esac
case "$WORKDIR" in
	/*) ;;
	*) WORKDIR="$PWD/$WORKDIR" ;;
esac

shopt -s nullglob
PATCHES=("$PATCH_DIR"/*.patch)
shopt -u nullglob
[ ${#PATCHES[@]} -gt 0 ] || die "no patches found in $PATCH_DIR"

UPSTREAM_VERSION=${SOURCE_VERSION%%-*}
SRC="$WORKDIR/libtorrent-rasterbar-$UPSTREAM_VERSION"
BUILD="$WORKDIR/build"

# ---------------------------------------------------------------- apt ----
has_deb_src() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] && grep -qE '^[[:space:]]*deb-src[[:space:]]' "$f" && return 0
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && grep -qiE '^[[:space:]]*Types:.*deb-src' "$f" && return 0
	done
	return 1
}

setup_apt() {
	[ "$(id -u)" -eq 0 ] || die "the apt steps need root (or run with --no-apt after installing: ${BUILD_DEPS[*]})"
	export DEBIAN_FRONTEND=noninteractive

	if has_deb_src; then
		log "a deb-src entry exists already, not adding one"
	else
		local codename keyring
		codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release 2>/dev/null | tr -d '"')
		[ -n "$codename" ] || codename=bookworm
		keyring=$(sed -n 's/^[[:space:]]*Signed-By:[[:space:]]*//p' \
			/etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
		[ -n "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg
		log "adding $SRC_LIST (deb-src for $codename)"
		cat > "$SRC_LIST" <<EOF
# added by megatorrent patches/build-patched-libtorrent.sh to fetch the
# libtorrent-rasterbar source package; safe to remove
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $codename
Components: main
Signed-By: $keyring
EOF
	fi

	log "apt-get update"
	apt-get update -q

	# install only what is missing: "apt-get install" of an installed
	# package would also upgrade it
	local pkg missing=()
	for pkg in "${BUILD_DEPS[@]}"; do
		dpkg-query -W -f='${Status}\n' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
			|| missing+=("$pkg")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		log "build dependencies are installed: ${BUILD_DEPS[*]}"
	else
		log "installing build dependencies: ${missing[*]}"
		apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
}

fetch_source() {
	if [ -f "$SRC/CMakeLists.txt" ]; then
		log "reusing source tree $SRC"
		return
	fi
	[ "$DO_APT" -eq 1 ] || die "no source tree at $SRC and --no-apt given"
	mkdir -p "$WORKDIR"
	log "apt-get source libtorrent-rasterbar=$SOURCE_VERSION into $WORKDIR"
	# the _apt sandbox user usually cannot write to WORKDIR; download as the
	# calling user instead of printing a warning about it
	(cd "$WORKDIR" && apt-get source -q -o APT::Sandbox::User="$(id -un)" \
		--only-source "libtorrent-rasterbar=$SOURCE_VERSION") \
		|| die "apt-get source failed (is there a deb-src entry? is version $SOURCE_VERSION available?)"
	[ -f "$SRC/CMakeLists.txt" ] || die "expected source tree $SRC was not created"
}

apply_patches() {
	local p name
	for p in "${PATCHES[@]}"; do
		name=$(basename "$p")
		if patch -d "$SRC" -p1 -R -s -f --dry-run < "$p" > /dev/null 2>&1; then
			log "patch $name is already applied, skipping"
		elif patch -d "$SRC" -p1 -s -f --dry-run < "$p" > /dev/null 2>&1; then
			log "applying $name"
			patch -d "$SRC" -p1 -s -f --no-backup-if-mismatch < "$p"
		else
			die "$name neither applies nor is applied to $SRC; remove $SRC to start from a clean source tree"
		fi
	done
}

configure() {
	# Debian builds with "dh -Scmake+ninja" and the CMake defaults (plus the
	# python bindings, which we leave out): deprecated-functions=ON, dht=ON,
	# encryption=ON, i2p=ON, logging=ON, extensions=ON, OpenSSL. Pass them
	# explicitly so the feature set (and the TORRENT_* defines in the .pc
	# file) matches the stock package. Debian's hardening flags are reused,
	# without -g and -O2 (Release adds -O3 -DNDEBUG).
	local cppflags cxxflags ldflags
	cppflags=$(dpkg-buildflags --get CPPFLAGS 2>/dev/null || true)
	cxxflags=$(dpkg-buildflags --get CXXFLAGS 2>/dev/null || true)
	ldflags=$(dpkg-buildflags --get LDFLAGS 2>/dev/null || true)
	cxxflags=$(printf '%s\n' "$cxxflags" | tr ' ' '\n' \
		| { grep -vE '^(-g|-O[0-9s]?|-ffile-prefix-map=.*)$' || true; } | tr '\n' ' ')

	log "configuring (cmake, Release) in $BUILD"
	cmake -S "$SRC" -B "$BUILD" -G Ninja \
		-DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$PREFIX" \
		-DCMAKE_INSTALL_LIBDIR=lib \
		-DCMAKE_CXX_FLAGS="$cppflags $cxxflags" \
		-DCMAKE_SHARED_LINKER_FLAGS="$ldflags" \
		-DBUILD_SHARED_LIBS=ON \
		-Ddeprecated-functions=ON \
		-Ddht=ON \
		-Dencryption=ON \
		-Dlogging=ON \
		-Di2p=ON \
		-Dextensions=ON \
		-Dmutable-torrents=ON \
		-Dstreaming=ON \
		-Dpython-bindings=OFF \
		-Dbuild_tests=OFF \
		-Dbuild_examples=OFF \
		-Dbuild_tools=OFF \
		> "$WORKDIR/cmake-configure.log" 2>&1 \
		|| { tail -n 30 "$WORKDIR/cmake-configure.log" >&2; die "cmake configure failed, see $WORKDIR/cmake-configure.log"; }
}

build() {
	log "building with nice -n 19, $JOBS jobs (takes a while)"
	local start end
	start=$(date +%s)
	nice -n 19 cmake --build "$BUILD" -j "$JOBS"
	end=$(date +%s)
	log "build finished in $(( (end - start) / 60 )) min $(( (end - start) % 60 )) s"
}

install_prefix() {
	if ! mkdir -p "$PREFIX" 2>/dev/null || [ ! -w "$PREFIX" ]; then
		die "cannot write to $PREFIX; run as root or pass --prefix DIR"
	fi
	log "installing into $PREFIX"
	cmake --install "$BUILD" > "$WORKDIR/cmake-install.log" \
		|| die "install failed, see $WORKDIR/cmake-install.log"
	grep -q 'TORRENT_DHT_PUT_ALERT_HAS_REFUSALS' "$PREFIX/include/libtorrent/alert_types.hpp" \
		|| die "installed headers lack TORRENT_DHT_PUT_ALERT_HAS_REFUSALS; patches not applied?"
}

if [ "$DO_APT" -eq 1 ]; then
	setup_apt
fi
for tool in cmake ninja patch pkg-config c++; do
	command -v "$tool" > /dev/null || die "$tool not found (install: ${BUILD_DEPS[*]})"
done
fetch_source
apply_patches
configure
build
install_prefix

cat <<EOF

Patched libtorrent-rasterbar $UPSTREAM_VERSION is installed in $PREFIX.
The stock Debian library in /usr is unchanged and remains the default.

Build against the patched library (the rpath is required: both libraries
have the same soname, without it the stock one is loaded at run time):

  export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
  c++ -std=c++17 app.cpp \$(pkg-config --cflags --libs libtorrent-rasterbar) \\
      -Wl,-rpath,$PREFIX/lib

  CMake: -DCMAKE_PREFIX_PATH=$PREFIX -DCMAKE_BUILD_RPATH=$PREFIX/lib

Detect it in code with: #ifdef TORRENT_DHT_PUT_ALERT_HAS_REFUSALS
EOF
