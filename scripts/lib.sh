# shellcheck shell=bash
# Shared settings for softodp's scripts. Source it; do not run it.
#
# SOFTODP_CACHE    where builds are cached (default ~/.cache/softodp); it lives
#                  outside the repository so a fresh clone reuses it.
# SOFTODP_FLAVOUR  which guest kernel: debug (default: lockdep, DEBUG_VM),
#                  kasan (memory safety: KASAN, UBSAN, KFENCE, kmemleak, ...)
#                  or release (no debug checks; for benchmarks only);
#                  kernel/config/flavour/<name>.config is added to the common
#                  fragments kernel/config/*.config (release leaves out
#                  20-debug.config).
# The kernel cache key is the linux-source package version, the flavour and a
# hash of its fragments and of the build script, so a change to either
# rebuilds. Modules are built per flavour, in build/kmod-<flavour>.

SOFTODP_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SOFTODP_CACHE=${SOFTODP_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/softodp}
KSRC_TARBALL=/usr/src/linux-source-6.12.tar.xz

log() { printf '[softodp] %s\n' "$*" >&2; }
die() { printf '[softodp] error: %s\n' "$*" >&2; exit 1; }

ksrc_version() {
	dpkg-query -W -f='${Version}' linux-source-6.12 2>/dev/null ||
		die "linux-source-6.12 is not installed (run: make deps)"
}

SOFTODP_FLAVOUR=${SOFTODP_FLAVOUR:-debug}
[[ -f $SOFTODP_TOP/kernel/config/flavour/$SOFTODP_FLAVOUR.config ]] || {
	printf '[softodp] error: unknown SOFTODP_FLAVOUR=%s (have: %s)\n' "$SOFTODP_FLAVOUR" \
		"$(cd "$SOFTODP_TOP/kernel/config/flavour" && ls | sed 's/\.config$//' | tr '\n' ' ')" >&2
	exit 2
}
export SOFTODP_FLAVOUR

# The config fragments of the selected flavour, in the order they apply.
# The release flavour is the one without the common debug fragment; for every
# other flavour the list (and so the cache key) is all of kernel/config/*.config.
kernel_frags() {
	local f
	for f in "$SOFTODP_TOP"/kernel/config/*.config; do
		[[ $SOFTODP_FLAVOUR == release && ${f##*/} == 20-debug.config ]] && continue
		printf '%s\n' "$f"
	done
	printf '%s\n' "$SOFTODP_TOP/kernel/config/flavour/$SOFTODP_FLAVOUR.config"
}

kernel_key() {
	local h
	h=$(kernel_frags | xargs cat | cat - "$SOFTODP_TOP/scripts/build-kernel" |
		sha256sum | cut -c1-12)
	printf '%s-%s-%s' "$(ksrc_version)" "$SOFTODP_FLAVOUR" "$h"
}

# Paths derived from the key; callers use these names.
kernel_paths() {
	KEY=$(kernel_key)
	KSRC=$SOFTODP_CACHE/src/linux-source-$(ksrc_version)
	KDIR=$SOFTODP_CACHE/kernel/$KEY
	KOBJ=$KDIR/obj
	KIMAGE=$KDIR/bzImage
	KMODS=$KDIR/modules
	KMOD_BUILD=$SOFTODP_TOP/build/kmod-$SOFTODP_FLAVOUR
}
