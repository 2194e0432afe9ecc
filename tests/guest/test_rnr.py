"""ODP faults never break a connection (issue 11): faults are deferred to a
worker; READ and atomic responses and the requester's own buffers wait for
them; a WRITE or SEND packet waits up to odp_write_hold_us (at most half the
QP's ACK timeout) and then gets an RNR NAK; only real errors end a request."""
import os
import signal
import subprocess
import time

import pytest

from rdma import BIN, RxeDevice, counter_delta, hw_counters, live_objects, mr_stats, wait_live
from test_prefetch import provider_env
from test_teardown import KO, sh

ODP_RNR = os.path.join(BIN, "odp_rnr")
DELAY = "/sys/kernel/debug/softodp_mirror/fault_delay_ms"
HOLD = "/sys/module/rdma_rxe/parameters/odp_write_hold_us"
LATENCY = "/sys/kernel/debug/rxe_odp/fault_latency_us"

# what answers a fault on each side (docs/odp.md, "Deferred faults"):
# the packet waits for its fault, up to the hold; then an RNR NAK
RNR_OPS = ["write", "send", "srq-send"]
# the response waits for as long as the fault takes
STALL_OPS = ["read", "fadd", "cswap"]
# the requester's send queue waits
LOCAL_OPS = ["local-send", "local-read"]
COUNTER = {**{op: "odp_fault_stalls" for op in RNR_OPS + STALL_OPS},
           **{op: "odp_local_fault_waits" for op in LOCAL_OPS}}


@pytest.fixture
def fault_delay():
    """Set the mirror's test delay (every fault with work sleeps first)."""
    def set_delay(ms):
        with open(DELAY, "w") as f:
            f.write(str(ms))
    yield set_delay
    set_delay(0)


@pytest.fixture
def write_hold():
    """Set how long a WRITE or SEND packet waits for its fault (us)."""
    with open(HOLD) as f:
        default = f.read().strip()

    def set_hold(us):
        with open(HOLD, "w") as f:
            f.write(str(us))
    set_hold(default)
    yield set_hold
    set_hold(default)


def odp_rnr(gid, *args, timeout=600):
    r = subprocess.run([ODP_RNR, "-d", "rxe0", "-g", gid, *args], capture_output=True,
                       text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def status_of(out):
    return [line.split("=", 1)[1] for line in out.splitlines() if line.startswith("status=")][0]


@pytest.mark.parametrize("op", RNR_OPS + STALL_OPS + LOCAL_OPS)
def test_absent_pages_are_faulted_off_the_data_path_and_the_op_succeeds(gid, op, write_hold):
    # a hold of 500 ms: far longer than a 64 KiB fault takes, so nothing is NAKed
    write_hold(500_000)
    before = hw_counters()
    rc, out = odp_rnr(gid, "slow", op)
    d = counter_delta(before, hw_counters())
    assert rc == 0 and status_of(out) == "success", out
    assert d["odp_faults_deferred"] >= 1, d
    assert d[COUNTER[op]] >= 1, d
    assert d["odp_deferred_fault_errors"] == 0, d
    assert d["odp_rnr_naks"] == 0 and d["send_rnr_err"] == 0, d


@pytest.mark.parametrize("op", RNR_OPS + STALL_OPS + LOCAL_OPS)
def test_a_fault_that_takes_seconds_completes_with_rnr_retry_7(gid, op, fault_delay, write_hold):
    fault_delay(1500)
    before = hw_counters()
    t0 = time.monotonic()
    rc, out = odp_rnr(gid, "-R", "7", "slow", op)
    took = time.monotonic() - t0
    d = counter_delta(before, hw_counters())
    assert rc == 0 and status_of(out) == "success", out
    assert took >= 1.5, (took, out)   # the fault really was slow
    if op in RNR_OPS:
        # held for the default 20 ms, then NAKed; every RNR NAK of ours
        # reached the requester, which retried
        assert d["odp_rnr_naks"] >= 1, d
        assert d["rcvd_rnr_err"] >= d["odp_rnr_naks"], d
        assert d["retry_rnr_exceeded_err"] == 0, d
    else:
        assert d["odp_rnr_naks"] == 0, d


@pytest.mark.parametrize("op", RNR_OPS)
def test_a_short_fault_is_waited_for_even_with_rnr_retry_0(gid, op, fault_delay, write_hold):
    # a WRITE or SEND whose fault ends within the hold is not NAKed, so a
    # requester without RNR retries sees it succeed, just later
    write_hold(500_000)
    fault_delay(150)
    before = hw_counters()
    t0 = time.monotonic()
    rc, out = odp_rnr(gid, "-R", "0", "slow", op)
    took = time.monotonic() - t0
    d = counter_delta(before, hw_counters())
    assert rc == 0 and status_of(out) == "success", out
    assert took >= 0.15, (took, out)
    assert d["odp_fault_stalls"] >= 1, d
    assert d["odp_rnr_naks"] == 0 and d["rcvd_rnr_err"] == 0, d


def test_the_hold_is_at_most_half_the_qps_ack_timeout(gid, fault_delay, write_hold):
    # a hold of 10 s asked for, a 1.5 s fault, and odp_rnr's QPs' timeout 18
    # (4.096 us << 18 = 1.07 s): the packet is NAKed after 536 ms, before the
    # requester's ACK timer fires,
    # so the requester never retransmits for a timeout
    write_hold(10_000_000)
    fault_delay(1500)
    before = hw_counters()
    rc, out = odp_rnr(gid, "-R", "7", "slow", "write")
    d = counter_delta(before, hw_counters())
    assert rc == 0 and status_of(out) == "success", out
    assert d["odp_fault_stalls"] >= 1 and d["odp_rnr_naks"] >= 1, d
    assert d["completer_retry_err"] == 0, d


@pytest.mark.parametrize("op", RNR_OPS + STALL_OPS + LOCAL_OPS)
def test_with_rnr_retry_0_only_rnr_nak_ops_fail_and_say_rnr(gid, op, fault_delay):
    # documented: a requester without RNR retries gets RNR_RETRY_EXC_ERR for a
    # WRITE or SEND that meets an absent page; READ, atomics and its own
    # buffers wait instead and complete
    fault_delay(1500)
    before = hw_counters()
    rc, out = odp_rnr(gid, "-R", "0", "slow", op)
    d = counter_delta(before, hw_counters())
    if op in RNR_OPS:
        assert rc == 2 and status_of(out) == "RNR retry counter exceeded", out
        assert d["retry_rnr_exceeded_err"] == 1, d
    else:
        assert rc == 0 and status_of(out) == "success", out


@pytest.mark.parametrize("churn", ["invalidations", "dpmem-migrations"])
def test_storm_never_breaks_a_connection(gid, churn):
    # WRITE + READ back, SEND and FETCH_ADD on ODP MRs for 30 s while a thread
    # pages them out, flips PROT_EXEC and zaps a WRITE target (and moves them
    # to dpmem and back): the program fails on any error completion or wrong
    # byte
    before = hw_counters()
    args = ["-m"] if churn == "dpmem-migrations" else []
    rc, out = odp_rnr(gid, *args, "storm", "30", timeout=900)
    d = counter_delta(before, hw_counters())
    assert rc == 0 and "OK" in out, out
    stats = dict(kv.split("=") for kv in out.split("storm: ")[1].splitlines()[0].split())
    assert int(stats["ops"]) >= 20 and int(stats["events"]) >= 100, stats
    assert d["odp_faults_deferred"] > 0, d
    assert d["odp_fault_stalls"] + d["odp_rnr_naks"] > 0, d
    assert d["odp_pages_invalidated"] > 0, d
    assert d["odp_deferred_fault_errors"] == 0, d
    if args:
        assert int(stats["moved"]) > 0, stats


def test_fault_latency_histogram_counts_every_deferred_fault(gid, fault_delay):
    with open(LATENCY, "w") as f:
        f.write("0")
    before = hw_counters()
    fault_delay(300)
    rc, out = odp_rnr(gid, "slow", "write")
    assert rc == 0, out
    deferred = counter_delta(before, hw_counters())["odp_faults_deferred"]
    with open(LATENCY) as f:
        lines = dict(line.rsplit(" ", 1) for line in f.read().splitlines())
    assert int(lines["faults"]) == deferred >= 1, (lines, deferred)
    assert int(lines["max_us"]) >= 300_000, lines
    assert int(lines["p99_us_below"]) > int(lines["max_us"]) or int(lines["longer"]) > 0, lines


def test_permanent_error_still_ends_the_request_and_names_the_cause(gid):
    # a WRITE into PROT_READ memory: the deferred fault fails for good and
    # the retried WRITE ends with REM_ACCESS_ERR (odp_rdma checks it)
    before = hw_counters()
    r = subprocess.run([os.path.join(BIN, "odp_rdma"), "-d", "rxe0", "-g", gid, "mprotect"],
                       capture_output=True, text=True, timeout=120)
    d = counter_delta(before, hw_counters())
    assert r.returncode == 0, r.stdout + r.stderr
    assert d["odp_deferred_fault_errors"] >= 1, d
    log = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    assert "deferred ODP write fault" in log
    assert "write to memory mapped without write permission" in log


def write_with_a_slow_fault_in_flight(gid, fault_delay, ms=3000):
    """Start odp_rnr slow write with every fault taking `ms`; return the
    process once its fault has been handed to the worker."""
    fault_delay(ms)
    before = hw_counters()
    p = subprocess.Popen([ODP_RNR, "-d", "rxe0", "-g", gid, "slow", "write"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while counter_delta(before, hw_counters())["odp_faults_deferred"] == 0:
        if time.monotonic() > deadline or p.poll() is not None:
            p.kill()
            raise AssertionError("no fault was deferred")
        time.sleep(0.05)
    return p


def test_killing_a_process_with_a_fault_in_flight_leaves_nothing(gid, fault_delay):
    base = live_objects()
    p = write_with_a_slow_fault_in_flight(gid, fault_delay)
    t0 = time.monotonic()
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=60)
    # teardown waited for the fault (3 s at most), not rxe's 50 s pool limit
    assert time.monotonic() - t0 < 20
    fault_delay(0)
    assert wait_live(base) == base


def test_mr_counters_count_pages_the_way_mlx5_does(gid):
    # a 64 KiB WRITE into an untouched ODP MR: page_faults counts the 16
    # pages, page_faults_handled the faults; writing the present pages again
    # faults nothing and counts nothing
    p = subprocess.Popen([ODP_RNR, "-d", "rxe0", "-g", gid, "count", "2"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True, env=provider_env())
    try:
        line = p.stdout.readline().split()
        assert line[0] == "MR", line
        lkey = int(line[1])
        s0 = mr_stats(lkey)
        assert s0["page_faults"] == 0 and s0["fault_requests"] == 0, s0
        for _ in range(2):
            p.stdin.write("go\n")
            p.stdin.flush()
            assert p.stdout.readline().strip() == "WRITTEN"
            s = mr_stats(lkey)
            assert s["page_faults"] == 16, s
            assert 1 <= s["page_faults_handled"] <= 16, s
            assert s["page_faults_handled"] == s["fault_requests"], s
            assert s["page_prefetch"] == 0 and s["fault_errors"] == 0, s
            s1 = s if _ == 0 else s1
        assert s == s1, (s1, s)   # the second WRITE found every page present
    finally:
        p.stdin.close()
        assert p.wait(timeout=60) == 0


def test_link_delete_and_module_unload_with_a_fault_in_flight(gid, fault_delay):
    # a process with a deferred fault in flight (3 s); `rdma link delete`
    # waits for it to close the device; it is killed mid-fault; the device
    # goes, nothing is left and rdma_rxe unloads
    base = live_objects()
    p = write_with_a_slow_fault_in_flight(gid, fault_delay)
    delete = None
    try:
        delete = subprocess.Popen(["rdma", "link", "delete", "rxe0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=60)
        out, _ = delete.communicate(timeout=60)
        assert delete.returncode == 0, out
        fault_delay(0)
        assert not os.path.exists("/sys/class/infiniband/rxe0")
        assert wait_live(base) == base
        r = sh("rmmod rdma_rxe")
        assert r.returncode == 0, r.stderr
    finally:
        if p.poll() is None:
            p.kill()
        if not os.path.exists("/sys/module/rdma_rxe"):
            assert sh(f"insmod {KO}").returncode == 0
        if not os.path.exists("/sys/class/infiniband/rxe0"):
            assert sh("rdma link add rxe0 type rxe netdev veth0").returncode == 0
        assert RxeDevice("rxe0").wait_active(), "rxe0 did not come back ACTIVE"
    assert odp_rnr(gid, "slow", "write")[0] == 0
