#!/bin/bash
# Migration throughput of dpmem next to lib/test_hmm, in the test VM:
#   scripts/vm-run userspace/dpmem/bench.sh [SIZE_MIB] [ROUNDS]
# (default 256 MiB, 3 timed rounds after a warm-up). Needs make modules
# userspace. test_hmm is loaded for the run and removed afterwards.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
size=${1:-256}
rounds=${2:-3}
[[ -e /dev/dpmem0 ]] || { echo "bench: /dev/dpmem0 missing (is dpmem loaded?)" >&2; exit 1; }
modprobe test_hmm
trap 'rmmod test_hmm' EXIT
echo "kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) MiB"
"$top/build/bin/dpmem-bench" -s "${size}M" -r "$rounds" -H /dev/hmm_dmirror0
