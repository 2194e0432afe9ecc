"""Implicit ODP MRs and per-MR ODP counters (prefetch: test_prefetch.py)."""
import os
import subprocess

import pytest

from rdma import BIN, RxeDevice, counter_delta, hw_counters, mr_stats

ODP_RDMA = os.path.join(BIN, "odp_rdma")
LIVE = "/sys/kernel/debug/softodp_mirror/live"


@pytest.fixture(scope="module")
def gid():
    return str(RxeDevice("rxe0").gid_index())


def run(gid, test, *args, timeout=600, env=None):
    r = subprocess.run([ODP_RDMA, "-d", "rxe0", "-g", gid, *args, test], capture_output=True,
                       text=True, timeout=timeout, env=env)
    assert r.returncode == 0, f"odp_rdma {test} {args}:\n{r.stdout}{r.stderr}"
    return r


def live_objects():
    with open(LIVE) as f:
        return dict((k, int(v)) for k, v in (line.split() for line in f))


def test_implicit_mr_reaches_every_mapping(gid):
    run(gid, "implicit")


def test_implicit_mr_after_munmap_fails_cleanly_and_reclaims_chunks(gid):
    before = hw_counters()
    run(gid, "implicit-unmap")
    d = counter_delta(before, hw_counters())
    assert d["odp_fault_errors"] >= 1, d
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    assert "address not mapped by the process" in log


def test_implicit_register_deregister_cycles_leave_nothing_behind(gid):
    before = live_objects()
    run(gid, "implicit-cycles", "-r", "1000")
    assert live_objects() == before


def test_per_mr_counters_and_odp_kind_in_rdma_tool(gid):
    p = subprocess.Popen([ODP_RDMA, "-d", "rxe0", "-g", gid, "hold"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        ready = p.stdout.readline().split()
        assert ready[0] == "READY", ready
        explicit, implicit = int(ready[1]), int(ready[2])
        e, i = mr_stats(explicit), mr_stats(implicit)
        assert e["page_faults_handled"] >= 1 and e["pages_faulted"] >= 1, e
        assert i["page_faults_handled"] >= 1 and i["pages_faulted"] >= 2, i
        res = subprocess.check_output(["rdma", "-dd", "resource", "show", "mr"], text=True)
        lines = {int(line.split("lkey ")[1].split()[0], 16): line for line in res.splitlines()
                 if "lkey" in line}
        assert "drv_odp explicit" in lines[explicit]
        assert "drv_odp implicit" in lines[implicit] and "drv_odp_chunks" in lines[implicit]
    finally:
        p.stdin.close()
        assert p.wait(timeout=120) == 0
