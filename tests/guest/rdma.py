"""Helpers for driving rxe0 and the ibverbs tools inside the guest."""
import ipaddress
import json
import os
import re
import subprocess
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.join(TOP, "build", "bin")
SYS_IB = "/sys/class/infiniband"


class RxeDevice:
    def __init__(self, name):
        self.name = name
        self.port = os.path.join(SYS_IB, name, "ports", "1")

    def state(self):
        with open(os.path.join(self.port, "state")) as f:
            return f.read().strip()

    def wait_active(self, timeout=10):
        """Poll (bounded) until the port is ACTIVE; True if it became so."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.state() == "4: ACTIVE":
                    return True
            except OSError:  # device not registered yet
                pass
            time.sleep(0.05)
        return False

    def gid_index(self, ipv4=None):
        """Index of the RoCE v2 GID carrying an IPv4 address (the first one,
        or the given one)."""
        gids = os.path.join(self.port, "gids")
        types = os.path.join(self.port, "gid_attrs", "types")
        for idx in sorted(int(i) for i in os.listdir(gids)):
            try:
                with open(os.path.join(gids, str(idx))) as f:
                    gid = f.read().strip()
                with open(os.path.join(types, str(idx))) as f:
                    kind = f.read().strip()
            except OSError:  # unpopulated entries read as EINVAL
                continue
            addr = ipaddress.IPv6Address(gid)
            if kind != "RoCE v2" or addr.ipv4_mapped is None:
                continue
            if ipv4 is None or str(addr.ipv4_mapped) == ipv4:
                return idx
        raise LookupError(f"{self.name}: no RoCE v2 IPv4 GID")


ODP_RDMA = os.path.join(BIN, "odp_rdma")
LIVE = "/sys/kernel/debug/softodp_mirror/live"


def odp_rdma(gid, test, *args, timeout=600, env=None):
    """Run one build/bin/odp_rdma scenario on rxe0; it checks its bytes."""
    r = subprocess.run([ODP_RDMA, "-d", "rxe0", "-g", gid, *args, test], capture_output=True,
                       text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"odp_rdma {test} {args}:\n{r.stdout}{r.stderr}"
    return r


def live_objects():
    """The mirror core's live contexts and ranges (debugfs), for leak checks."""
    with open(LIVE) as f:
        return dict((k, int(v)) for k, v in (line.split() for line in f))


def wait_live(want, timeout=30):
    """Bounded poll until the mirror's live objects are `want` (deferred
    teardown: prefetch work, chunk reclaim); returns the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        now = live_objects()
        if now == want or time.monotonic() > deadline:
            return now
        time.sleep(0.05)


def hw_counters(dev="rxe0"):
    """The port's hw counters (rdma statistic / sysfs) as a dict of ints.

    The core caches them for 10 ms; every caller does at least a process
    start between two reads, which takes longer than that."""
    d = os.path.join(SYS_IB, dev, "ports", "1", "hw_counters")
    out = {}
    for name in os.listdir(d):
        with open(os.path.join(d, name)) as f:
            out[name] = int(f.read())
    return out


def counter_delta(before, after):
    return {k: after[k] - before.get(k, 0) for k in after}


def mr_stats(lkey, dev="rxe0"):
    """Per-MR ODP counters from `rdma statistic show mr` (not cached)."""
    res = json.loads(subprocess.check_output(["rdma", "-j", "resource", "show", "mr"]))
    # iproute2 prints keys as hex strings without 0x in JSON
    mrn = [m["mrn"] for m in res if m["ifname"] == dev and int(str(m["lkey"]), 16) == lkey]
    assert mrn, f"no MR with lkey {lkey:#x} on {dev}"
    stats = json.loads(subprocess.check_output(["rdma", "-j", "statistic", "show", "mr"]))
    return [s for s in stats if s["ifname"] == dev and s["mrn"] == mrn[0]][0]


def _listening(port):
    want = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                cols = line.split()
                if cols[1].endswith(want) and cols[3] == "0A":  # LISTEN
                    return True
    return False


def run_pair(server_cmd, client_cmd, port, timeout=300):
    """Run an ibverbs server/client pair that rendezvous over TCP `port`.

    The client starts only once the server listens on the port (checked in
    /proc/net/tcp*), so there is no race and no sleep. Returns
    (server CompletedProcess-like, client CompletedProcess)."""
    srv = subprocess.Popen(server_cmd, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    try:
        while not _listening(port):
            if srv.poll() is not None:
                out = srv.stdout.read()
                raise AssertionError(f"server exited early ({srv.returncode}):\n{out}")
            if time.monotonic() > deadline:
                raise AssertionError(f"server never listened on port {port}")
            time.sleep(0.05)
        cli = subprocess.run(client_cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=timeout)
        sout, _ = srv.communicate(timeout=timeout)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    return subprocess.CompletedProcess(server_cmd, srv.returncode, sout), cli


# perftest converts cycles to seconds with a CPU frequency it measures at
# start against gettimeofday(); when the fit is poor (r^2 < 0.9, which a
# busy TCG host causes now and then) it prints this and reports every rate
# as 0. The transfer itself is unaffected, but its numbers are meaningless.
PERFTEST_CLOCK_FAILED = "Correlation coefficient r^2"


def run_perftest(server_cmd, client_cmd, port, pair=run_pair, tries=3):
    """`pair` (run_pair or a variant with its signature) for a perftest
    tool, repeated while perftest's clock calibration failed, up to `tries`
    runs. Returns the last (server, client)."""
    for _ in range(tries):
        srv, cli = pair(server_cmd, client_cmd, port)
        if PERFTEST_CLOCK_FAILED not in srv.stdout + cli.stdout:
            break
    return srv, cli


def perftest_clock_ok(out):
    """Whether perftest trusted its clock, so that its rates mean something."""
    return PERFTEST_CLOCK_FAILED not in out


def perftest_row(out):
    """The result line of a perftest *_bw report: bytes, iterations,
    average MB/s and Mpps."""
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 5 and all(re.fullmatch(r"[\d.]+", c) for c in cols[:5]):
            return {"bytes": int(cols[0]), "iters": int(cols[1]), "bw": float(cols[3]),
                    "rate": float(cols[4])}
    raise ValueError("no perftest result line in:\n" + out)


def perftest_bw(out):
    """Average bandwidth in MB/s from a perftest *_bw report."""
    return perftest_row(out)["bw"]
