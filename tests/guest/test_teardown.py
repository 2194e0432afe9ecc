"""Teardown with live ODP objects: `rdma link delete`, `rmmod rdma_rxe` and
SIGKILL while a process (odp_fuzz busy) holds an explicit and an implicit ODP
MR with prefetches queued and RDMA WRITE/READs in flight whose pages keep
faulting. rxe cannot disassociate a user context (it has no
disassociate_ucontext), so the ib core keeps the device for as long as a
process has it open: `rdma link delete` waits for the process to close it,
and `rmmod rdma_rxe` is refused (the open device holds a module reference).
Afterwards the mirror has no live object, nothing splatted, and rxe0 works
again."""
import os
import queue
import signal
import subprocess
import threading
import time

import pytest

from rdma import BIN, RxeDevice, counter_delta, hw_counters, live_objects, odp_rdma, wait_live

ODP_FUZZ = os.path.join(BIN, "odp_fuzz")
PROVIDER = {"RDMAV_DRIVERS": os.path.join(os.path.dirname(BIN), "provider", "libsoftrxe")}
KO = os.path.join(os.environ["SOFTODP_KMOD"], "rxe", "rdma_rxe.ko")


def sh(cmd, timeout=60):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=timeout)



class Busy:
    """odp_fuzz busy: ODP traffic that keeps faulting, until EOF or a kill."""

    def __init__(self, gid):
        self.p = subprocess.Popen([ODP_FUZZ, "-d", "rxe0", "-g", gid, "busy"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True,
                                  env=dict(os.environ, **PROVIDER))
        self.lines = queue.Queue()
        self.ops = 0
        threading.Thread(target=self._read, daemon=True).start()
        assert self._next(60) == "READY", self.stderr()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def _next(self, timeout):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return "(nothing)"

    def stderr(self):
        if self.p.poll() is None:
            return ""
        return self.p.stderr.read()

    def progress(self, n=1, timeout=60):
        """Wait (bounded) for n more batches of 32 completed transfers."""
        want = self.ops + 32 * n
        deadline = time.monotonic() + timeout
        while self.ops < want:
            line = self._next(max(0.1, deadline - time.monotonic()))
            assert line and line.startswith("OPS"), \
                f"no progress (got {line!r}): {self.stderr()}"
            self.ops = int(line.split()[1])
        return self.ops

    def stop(self):
        """EOF: drain, deregister, exit 0."""
        self.p.stdin.close()
        assert self.p.wait(timeout=120) == 0, self.stderr()
        rest = []
        while (line := self._next(10)) is not None:
            rest.append(line)
        assert rest and rest[-1] == "DONE", rest

    def kill(self):
        self.p.send_signal(signal.SIGKILL)
        assert self.p.wait(timeout=120) == -signal.SIGKILL


@pytest.fixture
def rxe0_back():
    """Whatever the test did, rdma_rxe is loaded and rxe0 ACTIVE afterwards."""
    yield
    if not os.path.exists("/sys/module/rdma_rxe"):
        assert sh(f"insmod {KO}").returncode == 0
    if not os.path.exists("/sys/class/infiniband/rxe0"):
        assert sh("rdma link add rxe0 type rxe netdev veth0").returncode == 0
    assert RxeDevice("rxe0").wait_active(), "rxe0 did not come back ACTIVE"


def traffic_works():
    gid = str(RxeDevice("rxe0").gid_index())
    odp_rdma(gid, "write", "-r", "2")
    odp_rdma(gid, "implicit")


def test_sigkill_during_odp_traffic_leaves_nothing_behind(gid):
    before_live = live_objects()
    before = hw_counters()
    for rnd in range(4):
        busy = Busy(gid)
        if rnd:		# the first time, with the prefetches still queued
            busy.progress(rnd)
        busy.kill()
        assert wait_live(before_live) == before_live, f"round {rnd}"
    d = counter_delta(before, hw_counters())
    assert d["odp_faults"] > 0 and d["odp_pages_prefetched"] > 0, d
    traffic_works()


def test_rmmod_rdma_rxe_is_refused_while_odp_mrs_are_in_use(gid, rxe0_back):
    before_live = live_objects()
    busy = Busy(gid)
    try:
        busy.progress()
        r = sh("rmmod rdma_rxe")
        assert r.returncode != 0, "rmmod rdma_rxe succeeded under an open device"
        assert "in use" in r.stderr, r.stderr
        assert os.path.exists("/sys/module/rdma_rxe")
        assert RxeDevice("rxe0").state() == "4: ACTIVE"
        busy.progress(2)	# the traffic goes on
    finally:
        busy.kill()
    assert wait_live(before_live) == before_live
    # the killed process left no reference behind: now it unloads
    assert sh("rdma link delete rxe0").returncode == 0
    assert sh("rmmod rdma_rxe").returncode == 0
    assert not os.path.exists("/sys/module/rdma_rxe")
    r = sh(f"insmod {KO} && rdma link add rxe0 type rxe netdev veth0")
    assert r.returncode == 0, r.stderr
    assert RxeDevice("rxe0").wait_active(), "rxe0 did not come back ACTIVE"
    traffic_works()


@pytest.mark.parametrize("end", ["exit", "sigkill"])
def test_rdma_link_delete_waits_for_the_odp_user_then_completes(gid, rxe0_back, end):
    before_live = live_objects()
    busy = Busy(gid)
    delete = None
    try:
        busy.progress()
        delete = subprocess.Popen(["rdma", "link", "delete", "rxe0"], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        # while the process holds the device, the deletion waits and the
        # traffic goes on undisturbed
        busy.progress(3)
        assert delete.poll() is None, f"rdma link delete returned: {delete.stdout.read()}"
    finally:
        if end == "exit":
            busy.stop()
        else:
            busy.kill()
    if delete:
        out, _ = delete.communicate(timeout=60)
        assert delete.returncode == 0, out
    assert not os.path.exists("/sys/class/infiniband/rxe0")
    assert wait_live(before_live) == before_live
    assert sh("rdma link add rxe0 type rxe netdev veth0").returncode == 0
    assert RxeDevice("rxe0").wait_active(), "rxe0 did not come back ACTIVE"
    traffic_works()
