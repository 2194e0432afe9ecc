"""On-demand paging MRs on rxe: data, faults, invalidation, COW, errors.

Each scenario is a run of build/bin/odp_rdma (loopback QPs on rxe0, bytes
compared in the program); the tests add what the program cannot see: the
device's ODP counters, the kernel log, and the mirror's live objects."""
import os
import subprocess

import pytest

from rdma import (ODP_RDMA, counter_delta, hw_counters, live_objects, odp_rdma,
                  perftest_clock_ok, perftest_row, run_pair, run_perftest)
from test_prefetch import provider_env







@pytest.mark.parametrize("test", ["write", "read", "send", "srq", "ud", "atomic"])
def test_traffic_on_odp_mrs_faults_pages_in_every_round(gid, test):
    before = hw_counters()
    odp_rdma(gid, test, "-r", "4")
    d = counter_delta(before, hw_counters())
    # every round starts with MADV_DONTNEED on both buffers, so every
    # round faults both sides in again and the DONTNEED invalidates them
    assert d["odp_faults_handled"] >= 2 * 4, d
    assert d["odp_pages_invalidated"] >= 4, d
    assert d["odp_fault_errors"] == 0, d


def test_pinned_mrs_take_no_odp_faults(gid):
    before = hw_counters()
    odp_rdma(gid, "write", "-p")
    assert counter_delta(before, hw_counters())["odp_faults"] == 0


def test_remap_at_the_same_address_reaches_the_new_pages(gid):
    before = hw_counters()
    odp_rdma(gid, "remap", "-r", "3")
    d = counter_delta(before, hw_counters())
    assert d["odp_invalidations_handled"] >= 3, d


def test_write_to_read_only_memory_fails_cleanly_and_says_why(gid):
    before = hw_counters()
    # the program checks IBV_WC_REM_ACCESS_ERR and the untouched bytes
    odp_rdma(gid, "mprotect")
    assert counter_delta(before, hw_counters())["odp_fault_errors"] >= 1
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    assert "write to memory mapped without write permission" in log


def test_write_past_the_end_of_a_truncated_file_fails_at_once_and_says_why(gid):
    """The CPU would get SIGBUS there: the RDMA WRITE must fail (not RNR
    forever), and dmesg must name the cause."""
    before = hw_counters()
    odp_rdma(gid, "truncated", timeout=60)
    assert counter_delta(before, hw_counters())["odp_fault_errors"] >= 1
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    assert "the mm failed the fault (SIGBUS or a memory error)" in log


@pytest.mark.parametrize("provider", ["debian", "softodp"])
def test_persistent_flush_access_is_refused_for_odp_as_for_pinned(gid, provider):
    # system RAM is not persistent memory: a pinned MR with persistent-flush
    # access is refused at registration (rxe checks each page), and an ODP MR
    # must be too, rather than acknowledge flushes that write nothing back
    env = provider_env() if provider == "softodp" else None
    r = odp_rdma(gid, "flush-persistent", env=env)
    assert "pinned=Invalid argument odp=Invalid argument" in r.stdout, r.stdout
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    assert "ODP MR with persistent flush refused: needs pmem" in log


def test_fork_keeps_copy_on_write_on_both_sides(gid):
    odp_rdma(gid, "fork")


@pytest.mark.parametrize("where", ["/tmp", "/dev/shm"])
def test_shared_file_mapping_is_coherent_with_read_and_write(gid, where):
    odp_rdma(gid, "file", "-f", os.path.join(where, "odp-file"))


def test_transparent_huge_page_is_mapped_as_one_unit(gid):
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        assert "[never]" not in f.read()
    before = hw_counters()
    odp_rdma(gid, "thp")
    d = counter_delta(before, hw_counters())
    # a 4 KiB access maps the whole 2 MiB page: one order-9 mapping, and
    # the 2 MiB READ and WRITE that follow take no further page faults
    assert d["odp_huge_mappings"] >= 1, d
    assert d["odp_pages_faulted"] >= 512, d


def test_hugetlb_page_is_mapped_as_one_unit(gid, hugepages):
    before = hw_counters()
    odp_rdma(gid, "hugetlb")
    assert counter_delta(before, hw_counters())["odp_huge_mappings"] >= 1


def test_mr_larger_than_memory_touched_sparsely(gid):
    with open("/proc/meminfo") as f:
        total = int(f.readline().split()[1]) * 1024
    size = 4 * total
    odp_rdma(gid, "sparse", "-s", str(size))


def test_two_processes_at_once(gid):
    procs = [subprocess.Popen([ODP_RDMA, "-d", "rxe0", "-g", gid, "-r", "8", t],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for t in ("write", "read")]
    for p in procs:
        out, _ = p.communicate(timeout=600)
        assert p.returncode == 0, out


def test_register_deregister_cycles_leave_nothing_behind(gid):
    before = live_objects()
    with open("/proc/meminfo") as f:
        slab0 = [int(line.split()[1]) for line in f if line.startswith("SUnreclaim")][0]
    odp_rdma(gid, "regloop", "-r", "10000", "-s", str(1 << 20), timeout=1200)
    assert live_objects() == before
    with open("/proc/meminfo") as f:
        slab1 = [int(line.split()[1]) for line in f if line.startswith("SUnreclaim")][0]
    # a leaked range alone is a few hundred bytes plus its pfn array
    # (2 KiB for 1 MiB): 10,000 of them would be > 20 MiB
    assert slab1 - slab0 < 4096, f"unreclaimable slab grew by {slab1 - slab0} KiB"


def test_ibv_rc_pingpong_with_odp(gid):
    base = ["ibv_rc_pingpong", "-d", "rxe0", "-g", gid, "-n", "200", "-s", "4096",
            "-p", "18610", "-o"]
    srv, cli = run_pair(base, base + ["localhost"], 18610)
    assert srv.returncode == 0 and cli.returncode == 0, srv.stdout + cli.stdout
    assert "200 iters in" in cli.stdout


@pytest.mark.parametrize("tool", ["ib_write_bw", "ib_read_bw", "ib_send_bw"])
def test_perftest_with_odp(gid, tool):
    before = hw_counters()
    base = [tool, "-d", "rxe0", "-x", gid, "-F", "--odp", "-n", "200", "-s", "65536",
            "-p", "18611"]
    srv, cli = run_perftest(base, base + ["localhost"], 18611)
    assert srv.returncode == 0 and cli.returncode == 0, srv.stdout + cli.stdout
    row = perftest_row(cli.stdout)
    assert row["iters"] == 200, cli.stdout
    # a rate only when perftest's clock calibration worked (run_perftest)
    assert row["bw"] > 0 or not perftest_clock_ok(cli.stdout), cli.stdout
    assert counter_delta(before, hw_counters())["odp_faults_handled"] > 0
