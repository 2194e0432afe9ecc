"""Prefetch (ibv_advise_mr) on explicit and implicit ODP MRs, through
softodp's provider (rdma-core-provider/; rdma-core 44's rxe provider has no
advise_mr), checked with the per-MR counters of `rdma statistic show mr`."""
import os
import subprocess
import time

import pytest

from rdma import BIN, ODP_RDMA, live_objects, mr_stats, odp_rdma






PROVIDER = {"RDMAV_DRIVERS": os.path.join(os.path.dirname(BIN), "provider", "libsoftrxe")}


def provider_env():
    return dict(os.environ, **PROVIDER)


class Prefetcher:
    """odp_rdma prefetch: advise, report, then RDMA WRITE on request."""

    def __init__(self, gid, *args):
        self.p = subprocess.Popen([ODP_RDMA, "-d", "rxe0", "-g", gid, *args, "prefetch"],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=provider_env())
        line = self.p.stdout.readline().split()
        if not line or line[0] != "PREFETCHED":
            self.p.kill()
            raise AssertionError(f"no PREFETCHED line: {line} {self.p.stderr.read()}")
        self.lkey = int(line[1])

    def write(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        assert self.p.stdout.readline().strip() == "WRITTEN", self.p.stderr.read()

    def close(self):
        self.p.stdin.close()
        assert self.p.wait(timeout=120) == 0, self.p.stderr.read()


def wait_prefetched(lkey, pages, timeout=30):
    """Bounded poll until a queued prefetch has committed `pages` pages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = mr_stats(lkey)
        if s["page_prefetch"] >= pages:
            return s
        time.sleep(0.05)
    raise AssertionError(f"queued prefetch did not finish: {s}")


@pytest.mark.parametrize("kind", ["explicit", "implicit"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_after_prefetch_write_the_first_rdma_takes_no_fault(gid, kind, mode):
    args = ["-a", "write"] + (["-i"] if kind == "implicit" else []) + \
        (["-A"] if mode == "async" else [])
    pf = Prefetcher(gid, *args)
    try:
        # 64 KiB = 16 pages, all mapped writable by the prefetch
        before = wait_prefetched(pf.lkey, 16) if mode == "async" else mr_stats(pf.lkey)
        assert before["page_prefetch"] == 16, before
        pf.write()
        after = mr_stats(pf.lkey)
        assert after["page_faults"] == before["page_faults"], (before, after)
    finally:
        pf.close()


def test_prefetch_no_fault_maps_only_resident_pages(gid):
    pf = Prefetcher(gid, "-a", "nofault")
    try:
        s = mr_stats(pf.lkey)
        # the program touched only the first 8 of 16 pages
        assert s["page_prefetch"] == 8 and s["page_faults"] == 8, s
        pf.write()
        assert mr_stats(pf.lkey)["page_faults"] == 16
    finally:
        pf.close()


def test_advise_mr_refuses_bad_keys_and_ranges(gid):
    odp_rdma(gid, "advise-errors", env=provider_env())


@pytest.mark.parametrize("kind", ["explicit", "implicit"])
def test_queued_prefetch_then_immediate_dereg_is_clean(gid, kind):
    before = live_objects()
    odp_rdma(gid, "prefetch-dereg", "-s", str(64 << 20), "-r", "20",
        *(["-i"] if kind == "implicit" else []), env=provider_env())
    assert live_objects() == before


def test_rdma_core_test_odp_passes_with_our_provider(hugepages):
    """rdma-core 44's own ODP tests: all but XRC (rxe has no XRC) pass."""
    from rdmacore import run_suite
    results, ran, out = run_suite("rxe0", tests=["tests.test_odp"], env=PROVIDER)
    assert ran == 17, out[-3000:]
    not_ok = {t: s for t, s in results.items() if s != "ok"}
    assert not_ok == {"tests.test_odp.OdpTestCase.test_odp_xrc_traffic": "skipped"}, \
        f"{not_ok}\n{out[-5000:]}"
