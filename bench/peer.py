#!/usr/bin/python3
"""Peer mapping vs migration vs system RAM, side by side in one guest
(run via make bench-peer).

RDMA READ and WRITE (1 MiB messages, rxe0 loopback) of a 64 MiB ODP MR whose
pages are
  P2P      on dpmem0, reached in place (dpmem peer_importers=*)
  migrate  on dpmem0, the provider refusing (peer_importers=none): every page
           is migrated back to system RAM by the first access
  system   in system RAM
Each "fresh MR" pass registers a new MR (and, for P2P and migrate, moves the
whole buffer to dpmem0 first, untimed), so page faults and migrations are
part of the time; "mirrored" is one more pass on the last MR, its pages
already mapped (not meaningful for migrate: its pages are in system RAM by
then). The device counters of each run are checked so a number cannot come
from the wrong path."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "guest"))
from kinfo import kernel_line  # noqa: E402
from rdma import BIN, RxeDevice, counter_delta, hw_counters  # noqa: E402

SIZE = 64 << 20
PAGES = SIZE // 4096
REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
GID = str(RxeDevice("rxe0").gid_index())
POLICY = "/sys/module/dpmem/parameters/peer_importers"


def set_policy(value):
    with open(POLICY, "w") as f:
        f.write(value)


def run(mode, policy, repeat=REPEAT):
    set_policy(policy)
    before = hw_counters()
    cmd = [os.path.join(BIN, "peer_rdma"), "-d", "rxe0", "-g", GID, "-s", str(SIZE),
           "-r", str(repeat), "-m", mode, "bench"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}{r.stderr}")
    d = counter_delta(before, hw_counters())
    line = re.search(r"^bench: (.*)$", r.stdout, re.M).group(1)
    return {k: float(v) for k, v in (kv.split("=") for kv in line.split())}, d


def check(name, ok, d):
    if not ok:
        sys.exit(f"{name}: the counters say it did not take the path it claims: {d}")


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def measure(repeat=REPEAT, counters=None):
    """P2P, migrate and system RAM runs, each checked against the device
    counters: {"p2p": {...}, "migrate": {...}, "system": {...}} in MB/s.
    counters, a dict, receives the counter deltas of the three runs."""
    with open(POLICY) as f:
        old = f.read().strip()
    try:
        p2p, dp = run("device", "*", repeat)
        mig, dm = run("device", "none", repeat)
        sysr, ds = run("system", "*", repeat)
    finally:
        set_policy(old)
    check("P2P", dp["odp_peer_maps"] >= PAGES and dp["odp_peer_fallbacks"] == 0, dp)
    # every fresh-MR pass migrates every page back once
    check("migrate", dm["odp_peer_maps"] == 0
          and dm["odp_peer_fallbacks"] >= 2 * repeat * PAGES, dm)
    check("system", ds["odp_peer_maps"] == 0 and ds["odp_peer_fallbacks"] == 0, ds)
    if counters is not None:
        counters.update(p2p=dp, migrate=dm, system=ds)
    # migrate's "mirrored" pass is on pages already back in system RAM
    mig = {k: v for k, v in mig.items() if k.endswith("cold")}
    return {"p2p": p2p, "migrate": mig, "system": sysr}


def main():
    print(kernel_line())
    counters = {}
    res = measure(counters=counters)
    p2p, mig, sysr = res["p2p"], res["migrate"], res["system"]
    dp, dm = counters["p2p"], counters["migrate"]

    print(f"64 MiB ODP MR, rxe0 loopback, TCG guest, 1 MiB messages; "
          f"fresh MR: median of {REPEAT} passes\n")
    print(f"{'MB/s':<22}{'P2P':>9}{'migrate':>9}{'system':>9}"
          f"{'P2P/migrate':>13}{'P2P/system':>12}")
    for key, label in (("read_cold", "READ, fresh MR"), ("write_cold", "WRITE, fresh MR"),
                       ("read_warm", "READ, mirrored"), ("write_warm", "WRITE, mirrored")):
        p, s = p2p[key], sysr[key]
        m = mig.get(key)
        mtxt = f"{m:>9.1f}" if m else f"{'-':>9}"
        print(f"{label:<22}{p:>9.1f}{mtxt}{s:>9.1f}{ratio(p, m):>13}{ratio(p, s):>12}")
    print(f"\ncounters (P2P run): peer_maps={dp['odp_peer_maps']} "
          f"fallbacks={dp['odp_peer_fallbacks']}; (migrate run): "
          f"refusals={dm['odp_peer_refusals']} fallbacks={dm['odp_peer_fallbacks']}")


if __name__ == "__main__":
    main()
