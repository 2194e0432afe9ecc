#!/usr/bin/python3
"""ODP traffic with and without mm churn, side by side in one guest (run via
make bench-rnr).

odp_rnr storm: RDMA WRITE + READ back, SEND and FETCH_ADD of 64 KiB on ODP
MRs, loopback on rxe0, every byte compared, any error completion fatal, for
BENCH_SECONDS (default 60) in each of three runs:
  quiet        nothing churns
  invalidate   a thread pages the buffers out, flips PROT_EXEC and zaps a
               WRITE target with MADV_DONTNEED, about once a millisecond
  migrate      the same, and the buffers move to dpmem0 and back
Reports ops/s and the ratio to quiet, the RNR NAKs and held responses the
faults cost, and the deferred faults' latency (debugfs histogram)."""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "guest"))
from kinfo import kernel_line  # noqa: E402
from rdma import BIN, RxeDevice, counter_delta, hw_counters  # noqa: E402

SECONDS = os.environ.get("BENCH_SECONDS", "60")
GID = str(RxeDevice("rxe0").gid_index())
LATENCY = "/sys/kernel/debug/rxe_odp/fault_latency_us"
RUNS = [("quiet", ["-q"]), ("invalidate", []), ("migrate", ["-m"])]


def latency():
    with open(LATENCY) as f:
        return dict(line.rsplit(" ", 1) for line in f.read().splitlines())


def run(args, seconds=SECONDS):
    with open(LATENCY, "w") as f:
        f.write("0")
    before = hw_counters()
    r = subprocess.run([os.path.join(BIN, "odp_rnr"), "-d", "rxe0", "-g", GID, *args,
                        "storm", str(seconds)], capture_output=True, text=True, timeout=3600)
    if r.returncode or "OK" not in r.stdout:
        sys.exit(f"odp_rnr {' '.join(args)} storm failed:\n{r.stdout}{r.stderr}")
    d = counter_delta(before, hw_counters())
    stats = {k: float(v) for k, v in
             (kv.split("=") for kv in r.stdout.split("storm: ")[1].splitlines()[0].split())}
    return stats, d, latency()


def measure(seconds=SECONDS):
    """The three runs: [(name, storm stats, counter deltas, latency)]."""
    rows = []
    for name, args in RUNS:
        stats, d, lat = run(args, seconds)
        rows.append((name, stats, d, lat))
    return rows


def main():
    print(kernel_line())
    rows = measure()
    base = rows[0][1]["ops"] / rows[0][1]["secs"]
    print(f"odp_rnr storm, 64 KiB ops, {SECONDS} s per run, one VM, rxe0 loopback")
    print(f"{'run':<11} {'ops':>6} {'ops/s':>7} {'vs quiet':>8} {'MB/s':>6} {'events':>7} "
          f"{'moved':>6} {'deferred':>8} {'rnr_naks':>8} {'stalls':>6} {'errors':>6} "
          f"{'p50_us<':>8} {'p99_us<':>8} {'max_us':>8}")
    for name, s, d, lat in rows:
        rate = s["ops"] / s["secs"]
        print(f"{name:<11} {s['ops']:>6.0f} {rate:>7.1f} {rate / base:>8.2f} "
              f"{s['bytes'] / s['secs'] / 1e6:>6.1f} {s['events']:>7.0f} {s['moved']:>6.0f} "
              f"{d['odp_faults_deferred']:>8} {d['odp_rnr_naks']:>8} {d['odp_fault_stalls']:>6} "
              f"{d['odp_deferred_fault_errors']:>6} {lat['p50_us_below']:>8} "
              f"{lat['p99_us_below']:>8} {lat['max_us']:>8}")
    print("errors: error completions end the run, so every row above had none")


if __name__ == "__main__":
    main()
