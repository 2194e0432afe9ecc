# shellcheck shell=bash
# Shared settings for softodp's scripts. Source it; do not run it.
#
# SOFTODP_CACHE    where builds are cached (default ~/.cache/softodp); it lives
#                  outside the repository so a fresh clone reuses it.
# The kernel cache key is the linux-source package version plus a hash of the
# config fragments and of the build script, so a change to either rebuilds.

SOFTODP_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOFTODP_CACHE=${SOFTODP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softodp}
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz

log() { printf '[softodp] %s\n' "$*" >&2; }
die() { printf '[softodp] error: %s\n' "$*" >&2; exit 1; }

ksrc_version() {
	dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null ||
		die "linux-source-6.12 is not installed (run: make deps)"
}

kernel_key() {
	local h
	h=$(cat "$SOFTODP_TOP"/kernel/config/*.config \
		"$SOFTODP_TOP/scripts/build-kernel" | sha256sum | cut -c1-12)
	printf '%s-%s' "$(ksrc_version)" "$h"
}

# Paths derived from the key; callers use these names.
kernel_paths() {
	KEY=$(kernel_key)
	KSRC=$SOFTODP_CACHE/src/linux-source-$(ksrc_version)
	KDIR=$SOFTODP_CACHE/kernel/$KEY
	KOBJ=$KDIR/obj
	KIMAGE=$KDIR/bzImage
	KMODS=$KDIR/modules
}
