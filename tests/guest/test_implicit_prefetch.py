"""Implicit ODP MRs and per-MR ODP counters (prefetch: test_prefetch.py)."""
import subprocess

from rdma import ODP_RDMA, counter_delta, hw_counters, live_objects, mr_stats, odp_rdma






def test_implicit_mr_reaches_every_mapping(gid):
    odp_rdma(gid, "implicit")


def test_implicit_mr_after_munmap_fails_cleanly_and_reclaims_chunks(gid):
    before = hw_counters()
    odp_rdma(gid, "implicit-unmap")
    d = counter_delta(before, hw_counters())
    assert d["odp_fault_errors"] >= 1, d
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    assert "address not mapped by the process" in log


def test_implicit_register_deregister_cycles_leave_nothing_behind(gid):
    before = live_objects()
    odp_rdma(gid, "implicit-cycles", "-r", "1000")
    assert live_objects() == before


def test_per_mr_counters_and_odp_kind_in_rdma_tool(gid):
    p = subprocess.Popen([ODP_RDMA, "-d", "rxe0", "-g", gid, "hold"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    try:
        ready = p.stdout.readline().split()
        assert ready[0] == "READY", ready
        explicit, implicit = int(ready[1]), int(ready[2])
        e, i = mr_stats(explicit), mr_stats(implicit)
        assert e["page_faults_handled"] >= 1 and e["page_faults"] >= 1, e
        assert i["page_faults_handled"] >= 1 and i["page_faults"] >= 2, i
        res = subprocess.check_output(["rdma", "-dd", "resource", "show", "mr"], text=True)
        lines = {int(line.split("lkey ")[1].split()[0], 16): line for line in res.splitlines()
                 if "lkey" in line}
        assert "drv_odp explicit" in lines[explicit]
        assert "drv_odp implicit" in lines[implicit] and "drv_odp_chunks" in lines[implicit]
    finally:
        p.stdin.close()
        assert p.wait(timeout=120) == 0
