#!/bin/sh
# abi-check.sh PABI LIBIBVERBS OBJECT...
#
# Before the provider is linked: does the libibverbs we build against
# implement the private ABI that ibverbs_private.h describes (PABI), and
# does it export every libibverbs symbol the provider objects reference?
# Private symbols must carry the ELF version IBVERBS_PRIVATE_<PABI>, the
# registration entry point must be verbs_register_driver_<PABI>. Exits
# non-zero with an explanation otherwise.
set -eu

me="softrxe ABI check"
fail() {
	printf '%s: FAILED: %s\n' "$me" "$*" >&2
	exit 1
}

[ $# -ge 3 ] || fail "usage: abi-check.sh PABI LIBIBVERBS OBJECT..."
pabi=$1
lib=$2
shift 2

case $pabi in
'' | *[!0-9]*) fail "ibverbs_private.h gives no numeric IBVERBS_PABI_VERSION ('$pabi')" ;;
esac
[ -r "$lib" ] || fail "cannot read libibverbs at '$lib' (set LIBIBVERBS=...)"
for tool in readelf nm; do
	command -v $tool >/dev/null || fail "$tool not found (binutils)"
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name@version of every symbol the library defines
readelf --dyn-syms -W "$lib" |
	awk 'NF >= 8 && $7 != "UND" { print $8 }' | sed 's/@@/@/' | sort -u >"$tmp/exports"
[ -s "$tmp/exports" ] || fail "'$lib' exports no symbols: not a shared libibverbs?"

sed -n 's/.*@\(IBVERBS_PRIVATE_[0-9]*\)$/\1/p' "$tmp/exports" | sort -u >"$tmp/pabis"
have=$(tr '\n' ' ' <"$tmp/pabis")
[ -n "$have" ] || fail "'$lib' has no IBVERBS_PRIVATE_* symbols: not libibverbs?"
if ! grep -qx "IBVERBS_PRIVATE_$pabi" "$tmp/pabis"; then
	fail "private ABI mismatch: $lib implements ${have% }, but ibverbs_private.h" \
		"declares IBVERBS_PRIVATE_$pabi. A provider built this way would not load." \
		"Re-derive ibverbs_private.h from the rdma-core release that matches the" \
		"installed libibverbs (docs/provider.md, 'The private ABI')."
fi

# every libibverbs symbol our objects reference
nm -u --format=posix "$@" | awk '{ print $1 }' | sort -u >"$tmp/undef"
grep -E '^(ibv_|verbs_|_verbs_|__verbs_|execute_ioctl$|__ioctl_final_num_attrs$)' \
	"$tmp/undef" >"$tmp/wanted" || true

grep -qx "verbs_register_driver_$pabi" "$tmp/wanted" ||
	fail "the provider objects do not call verbs_register_driver_$pabi; they" \
		"reference: $(grep '^verbs_register_driver' "$tmp/wanted" | tr '\n' ' ')"

missing=
nprivate=0
while read -r sym; do
	if grep -qx "$sym@IBVERBS_PRIVATE_$pabi" "$tmp/exports"; then
		nprivate=$((nprivate + 1))
	elif grep -q "^$sym@IBVERBS_[0-9]" "$tmp/exports"; then
		: # a public verb
	else
		missing="$missing $sym"
	fi
done <"$tmp/wanted"
[ -z "$missing" ] ||
	fail "$lib (IBVERBS_PRIVATE_$pabi) does not export:$missing." \
		"ibverbs_private.h declares functions this libibverbs does not have."

echo "$me: OK: $lib, IBVERBS_PRIVATE_$pabi, $nprivate private symbols used"
