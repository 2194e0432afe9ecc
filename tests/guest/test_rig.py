"""The test VM itself: kernel, modules, rxe0, and pinned (non-ODP) traffic."""
import os
import subprocess

import pytest

from rdma import RxeDevice, perftest_clock_ok, perftest_row, run_pair, run_perftest


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, capture_output=True, text=True, **kw)


def test_guest_runs_our_kernel_with_device_private():
    assert os.uname().release.endswith("-softodp")
    # DEVICE_PRIVATE exists: test_hmm (a reference user of it) loads. It
    # stays loaded: 6.12's test_hmm leaks its devices' names and kobjects on
    # unload, which kmemleak (kasan flavour) would report against this run.
    r = sh("modprobe test_hmm && test -c /dev/hmm_dmirror0")
    assert r.returncode == 0, r.stderr


def test_rxe0_is_active_on_veth0(rxe):
    assert rxe.state() == "4: ACTIVE"
    with open(f"/sys/class/infiniband/{rxe.name}/ports/1/gid_attrs/ndevs/0") as f:
        assert f.read().strip() == "veth0"
    out = sh("ibv_devinfo -d rxe0").stdout
    assert "PORT_ACTIVE" in out and "transport:\t\t\tInfiniBand" in out


def test_rxe_module_unloads_and_reloads(rxe):
    ko = os.path.join(os.environ["SOFTODP_KMOD"], "rxe", "rdma_rxe.ko")
    for _ in range(3):
        assert sh("rdma link delete rxe0").returncode == 0
        assert sh("rmmod rdma_rxe").returncode == 0
        assert not os.path.exists("/sys/module/rdma_rxe")
        r = sh(f"insmod {ko} && rdma link add rxe0 type rxe netdev veth0")
        assert r.returncode == 0, r.stderr
        assert RxeDevice("rxe0").wait_active(), "rxe0 did not come back ACTIVE"


@pytest.mark.parametrize("tool", ["ibv_rc_pingpong", "ibv_ud_pingpong"])
def test_pinned_pingpong_loopback(rxe, tool):
    gid = str(rxe.gid_index())
    size = "4096" if tool == "ibv_rc_pingpong" else "1024"
    base = [tool, "-d", rxe.name, "-g", gid, "-n", "200", "-s", size, "-p", "18600"]
    srv, cli = run_pair(base, base + ["localhost"], 18600)
    assert srv.returncode == 0, srv.stdout
    assert cli.returncode == 0, cli.stdout
    for out in (srv.stdout, cli.stdout):
        assert "200 iters in" in out, out


def test_pinned_ib_write_bw_loopback(rxe):
    gid = str(rxe.gid_index())
    base = ["ib_write_bw", "-d", rxe.name, "-x", gid, "-F", "-n", "500",
            "-s", "65536", "-p", "18601"]
    srv, cli = run_perftest(base, base + ["localhost"], 18601)
    assert srv.returncode == 0, srv.stdout
    assert cli.returncode == 0, cli.stdout
    row = perftest_row(cli.stdout)
    assert row["iters"] == 500, cli.stdout
    assert row["bw"] > 0 or not perftest_clock_ok(cli.stdout), cli.stdout
