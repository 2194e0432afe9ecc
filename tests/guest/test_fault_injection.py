"""Fault injection on the ODP and dpmem paths (tests/progs/odp_inject.c).

fail-nth: for N = 1, 2, ... a fresh process fails only the N-th injectable
allocation (failslab, fail_page_alloc, the mirror's own sites) of one call:
registration (explicit, implicit), synchronous and queued prefetch,
deregistration, dpmem migration both ways. Each call must succeed or fail with
its documented errno, the process must recover (the same call works, RDMA
moves the right bytes), nothing may splat and the mirror's live objects come
back to what they were.

softodp_mirror/fail (a standard fault_attr of the mirror module) reaches the
allocations made in kernel workers: implicit chunks created by the rxe
responder or requester task, a range's peer array, queued prefetches. A
failed remote access completes with IBV_WC_REM_ACCESS_ERR at the requester;
the QPs are reconnected and the transfer then works.
"""
import os
import re
import subprocess

import pytest

from dpmem import no_pages_left_behind  # noqa: F401 (autouse: no dpmem page left)
from rdma import BIN, counter_delta, hw_counters, live_objects, wait_live

ODP_INJECT = os.path.join(BIN, "odp_inject")
PROVIDER = {"RDMAV_DRIVERS": os.path.join(os.path.dirname(BIN), "provider", "libsoftrxe")}
DEBUGFS = "/sys/kernel/debug"
MIRROR_ATTR = os.path.join(DEBUGFS, "softodp_mirror", "fail")


def _knobs(path, values):
    """Set fault_attr knobs; return their old values."""
    old = {}
    for knob, value in values.items():
        f = os.path.join(path, knob)
        with open(f) as fh:
            old[knob] = fh.read().strip()
        with open(f, "w") as fh:
            fh.write(value)
    return old


def _restore(path, old):
    for knob, value in old.items():
        with open(os.path.join(path, knob), "w") as fh:
            fh.write(value)


@pytest.fixture
def fail_nth():
    """failslab and fail_page_alloc count sleeping and order-0 (and highmem:
    user pages) allocations, and say nothing when they fail (a stack dump
    would read as a splat). fail-nth also counts the mirror's own sites, so
    its attr is quiet too."""
    setups = [
        (os.path.join(DEBUGFS, "failslab"), {"ignore-gfp-wait": "N", "verbose": "0"}),
        (os.path.join(DEBUGFS, "fail_page_alloc"),
         {"ignore-gfp-wait": "N", "ignore-gfp-highmem": "N", "min-order": "0",
          "verbose": "0"}),
    ]
    if os.path.isdir(MIRROR_ATTR):
        setups.append((MIRROR_ATTR, {"verbose": "0"}))
    saved = []
    try:
        for path, values in setups:
            assert os.path.isdir(path), f"{path} missing (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC?)"
            saved.append((path, _knobs(path, values)))
        yield
    finally:
        for path, old in reversed(saved):
            _restore(path, old)


@pytest.fixture
def mirror_attr():
    if not os.path.isdir(MIRROR_ATTR):
        pytest.fail(f"{MIRROR_ATTR} is missing: the mirror module has no fault attr")
    knobs = ["probability", "interval", "times", "space", "verbose", "task-filter"]
    old = {}
    for k in knobs:
        with open(os.path.join(MIRROR_ATTR, k)) as f:
            old[k] = f.read().strip()
    _restore(MIRROR_ATTR, {"verbose": "0"})	# odp_inject arms the rest
    try:
        yield
    finally:
        _restore(MIRROR_ATTR, {"probability": "0"})
        _restore(MIRROR_ATTR, {k: old[k] for k in knobs if k != "probability"})
        _restore(MIRROR_ATTR, {"probability": old["probability"]})



def inject(gid, mode, timeout=600):
    before = live_objects()
    r = subprocess.run([ODP_INJECT, "-d", "rxe0", "-g", gid, mode], capture_output=True,
                       text=True, timeout=timeout, env=dict(os.environ, **PROVIDER))
    assert r.returncode == 0, f"odp_inject {mode}:\n{r.stdout[-3000:]}{r.stderr[-3000:]}"
    m = re.search(rf"^{mode}: points (\d+) failed (\d+)(.*) absorbed (\d+)$", r.stdout, re.M)
    assert m, r.stdout
    print(m.group(0))
    assert wait_live(before) == before
    return int(m.group(1)), int(m.group(2)), m.group(3).split(), int(m.group(4))


NTH_CALLS = ["reg-explicit", "reg-explicit-big", "reg-second", "reg-implicit",
             "prefetch-explicit", "prefetch-implicit", "prefetch-async",
             "dpmem-to-device", "dpmem-to-system"]


@pytest.mark.parametrize("mode", NTH_CALLS)
def test_each_allocation_of_the_call_failing_ends_in_a_clean_errno(gid, fail_nth, mode):
    points, failed, by, absorbed = inject(gid, mode)
    assert points >= 1 and failed >= 1, (points, failed, by, absorbed)
    assert failed + absorbed == points


@pytest.mark.parametrize("mode", ["dereg-explicit", "dereg-implicit"])
def test_deregistration_survives_any_allocation_failing(gid, fail_nth, mode):
    # deregistration must not fail: whatever it allocates, a failure is absorbed
    points, failed, by, absorbed = inject(gid, mode)
    assert failed == 0 and absorbed == points, (points, failed, by, absorbed)


WORKER_PATHS = ["worker-write", "worker-read", "worker-atomic", "worker-send",
                "worker-local", "worker-peer"]


@pytest.mark.parametrize("mode", WORKER_PATHS)
def test_allocation_failure_in_a_fault_worker_is_retried_never_an_error(gid, mirror_attr, mode):
    # An RC fault runs in the device's fault worker; an allocation failing
    # there is ENOMEM, a passing failure (issue 11): the request is retried
    # (RNR NAK, a held response or a waiting send queue) and completes.
    before = hw_counters()
    points, failed, by, absorbed = inject(gid, mode)
    d = counter_delta(before, hw_counters())
    assert points >= 1 and failed == 0 and absorbed == points, (points, failed, by, absorbed)
    assert d["odp_faults_deferred"] >= points, d
    assert d["odp_deferred_fault_errors"] == 0, d


def test_allocation_failure_in_the_prefetch_worker_is_counted(gid, mirror_attr):
    # a queued prefetch has nobody to tell: its failure is counted
    points, failed, by, absorbed = inject(gid, "worker-prefetch")
    assert points >= 1 and failed >= 1, (points, failed, by, absorbed)
