"""softrxe, softodp's libibverbs provider for rxe (rdma-core-provider/, issue 6).

Run inside the guest. Everything here selects the provider the way a user
does, with RDMAV_DRIVERS pointing at the built library (docs/provider.md),
except the install test, which uses `make install` into a private config
directory. The rdma-core suite is run with the stock provider and with ours
and the per-test results are compared.
"""
import os
import re
import subprocess
import tempfile
import time

import pytest

import rdmacore
from rdma import TOP, perftest_clock_ok, perftest_row, run_pair, run_perftest

PROV_DIR = os.path.join(TOP, "build", "provider")
PROVIDER = os.path.join(PROV_DIR, "libsoftrxe")          # RDMAV_DRIVERS value
PROVIDER_SO = PROVIDER + "-rdmav34.so"
PBIN = os.path.join(PROV_DIR, "bin")
OURS = {"RDMAV_DRIVERS": PROVIDER}
STOCK_SO = "/usr/lib/x86_64-linux-gnu/libibverbs/librxe-rdmav34.so"
ADDR = "192.168.77.1"                                    # veth0, rxe0's netdev


def env_with(extra=None, drop=("RDMAV_DRIVERS", "IBV_DRIVERS")):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(extra or {})
    return env


def run(cmd, extra_env=None, timeout=600):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout, env=env_with(extra_env))


def case_lines(out):
    """'ok NAME' / 'FAIL NAME: why' lines of our test programs -> {NAME: line}."""
    res = {}
    for line in out.splitlines():
        m = re.match(r"(ok|FAIL) (\w+)", line)
        if m:
            res[m.group(2)] = line
    return res


@pytest.fixture(autouse=True)
def built():
    assert os.path.exists(PROVIDER_SO), "provider not built (make userspace)"


@pytest.fixture
def ours(monkeypatch):
    """Select softrxe for tools started from this test."""
    monkeypatch.setenv("RDMAV_DRIVERS", PROVIDER)
    monkeypatch.delenv("IBV_DRIVERS", raising=False)


# --------------------------------------------------------------- selection

def test_rdmav_drivers_selects_softrxe(rxe):
    """RDMAV_DRIVERS=<dir>/libsoftrxe makes libibverbs give rxe0 to softrxe
    even though the stock rxe.driver is configured; without it, stock."""
    r = run([os.path.join(PBIN, "softrxe_probe"), rxe.name, "provider"], OURS)
    assert r.returncode == 0, r.stdout
    assert f"provider {PROVIDER_SO}" in r.stdout.splitlines(), r.stdout
    r = run([os.path.join(PBIN, "softrxe_probe"), rxe.name, "provider"])
    assert r.returncode == 0, r.stdout
    assert f"provider {STOCK_SO}" in r.stdout.splitlines(), r.stdout


def test_make_install_with_own_driver_file(rxe):
    """`make install` into a provider dir and a config dir that holds only
    softrxe.driver (a private mount namespace over /etc/libibverbs.d; the
    host's files are not touched): libibverbs finds softrxe unaided."""
    with tempfile.TemporaryDirectory() as libdir:
        script = (
            "set -e; mount -t tmpfs softrxe-test /etc/libibverbs.d; "
            f"make -s -C {TOP}/rdma-core-provider install PROVIDER_DIR={libdir} "
            "IBV_CONFIG_DIR=/etc/libibverbs.d; "
            "cat /etc/libibverbs.d/softrxe.driver; "
            f"{PBIN}/softrxe_probe {rxe.name} provider")
        r = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
        assert r.returncode == 0, r.stdout
        assert f"driver {libdir}/libsoftrxe" in r.stdout, r.stdout
        assert f"provider {libdir}/libsoftrxe-rdmav34.so" in r.stdout.splitlines(), r.stdout
    # the namespace is gone: the system config is as before
    assert not os.path.exists("/etc/libibverbs.d/softrxe.driver")


# ---------------------------------------------------------- ODP additions

def test_query_device_ex_reports_kernel_odp_caps(rxe):
    r = run([os.path.join(PBIN, "softrxe_probe"), rxe.name, "odp"], OURS)
    assert r.returncode == 0 and "ok odp_caps" in r.stdout, r.stdout


ADVISE_CASES = [f"advise_{a}{f}" for a in ("PREFETCH", "PREFETCH_WRITE", "PREFETCH_NO_FAULT")
                for f in ("", "_FLUSH")] + ["advise_bad_input"]


@pytest.fixture(scope="module")
def advise_run():
    return run([os.path.join(PBIN, "softrxe_probe"), "rxe0", "advise"], OURS)


@pytest.mark.parametrize("case", ADVISE_CASES)
def test_advise_mr(advise_run, case):
    """ibv_advise_mr() reaches the kernel with the caller's arguments and
    returns the kernel's answer (compared with the same ioctl issued by
    hand); malformed calls are refused before the kernel."""
    got = case_lines(advise_run.stdout)
    assert got.get(case, "").startswith("ok "), advise_run.stdout


# ------------------------------------------------------------ data path

VERBS_CASES = [
    "rc_send_multi_sge", "rc_send_imm", "rc_write_read", "rc_atomics", "rc_inline",
    "rc_send_with_inv", "mw_type1_bind", "qpx_inline_list_sge_list",
    "qpx_write_read_atomics", "qpx_batch_errors", "cqx_poll_semantics",
    "rc_ring_wraparound", "rc_send_queue_full", "cq_resize", "srq_resize", "ud_send",
    "uc_write_imm", "qp_reset_cleans_cq",
]
BAD_CASES = ["bad_query_device_ex", "bad_post_send", "bad_post_before_rts",
             "bad_post_recv", "bad_cq", "bad_create", "bad_mw"]


@pytest.fixture(scope="module")
def verbs_run():
    from rdma import RxeDevice
    gid = str(RxeDevice("rxe0").gid_index())
    return run([os.path.join(PBIN, "softrxe_verbs"), "rxe0", gid], OURS)


@pytest.fixture(scope="module")
def bad_run():
    from rdma import RxeDevice
    gid = str(RxeDevice("rxe0").gid_index())
    return run([os.path.join(PBIN, "softrxe_badinput"), "rxe0", gid], OURS)


@pytest.mark.parametrize("case", VERBS_CASES)
def test_verbs(verbs_run, case):
    got = case_lines(verbs_run.stdout)
    assert got.get(case, "").startswith("ok "), verbs_run.stdout


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_refused(bad_run, case):
    """Malformed calls get an error code: the program ran to the end (no
    crash in the provider) and each case saw the expected errno."""
    assert bad_run.returncode in (0, 1), f"crashed ({bad_run.returncode}):\n{bad_run.stdout}"
    got = case_lines(bad_run.stdout)
    assert got.get(case, "").startswith("ok "), bad_run.stdout


# ------------------------------------------------- ibverbs example programs

def _pingpong(rxe, tool, port, extra=()):
    base = [tool, "-d", rxe.name, "-g", str(rxe.gid_index()), "-n", "100",
            "-p", str(port), *extra]
    srv, cli = run_pair(base, base + ["localhost"], port)
    assert srv.returncode == 0, srv.stdout
    assert cli.returncode == 0, cli.stdout
    return srv, cli


@pytest.mark.parametrize("tool,extra", [
    ("ibv_rc_pingpong", ["-s", "8192"]),
    ("ibv_uc_pingpong", ["-s", "4096"]),
    ("ibv_ud_pingpong", ["-s", "1024"]),
    ("ibv_srq_pingpong", ["-s", "2048", "-q", "4"]),
])
def test_pingpong_loopback(rxe, ours, tool, extra):
    port = 18610 + ["ibv_rc_pingpong", "ibv_uc_pingpong", "ibv_ud_pingpong",
                    "ibv_srq_pingpong"].index(tool)
    srv, cli = _pingpong(rxe, tool, port, extra)
    for out in (srv.stdout, cli.stdout):
        # srq_pingpong reports per-QP totals; all report "N iters in"
        assert re.search(r"\d+ iters in [\d.]+ seconds", out), out


# ----------------------------------------------------------------- perftest

def _perftest_lat(out):
    """Typical latency (usec) from a perftest *_lat report."""
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and all(re.fullmatch(r"[\d.]+", c) for c in cols[:6]):
            return float(cols[4])
    raise ValueError("no perftest latency line in:\n" + out)


@pytest.mark.parametrize("tool,port,extra", [
    ("ib_write_bw", 18620, ["-s", "65536"]),
    ("ib_read_bw", 18621, ["-s", "65536"]),
    ("ib_send_bw", 18622, ["-s", "65536"]),
    ("ib_send_bw", 18623, ["-c", "UD", "-s", "1024"]),
    ("ib_atomic_bw", 18624, []),
    ("ib_write_bw", 18625, ["-R", "-s", "4096"]),     # QPs connected by rdma_cm
])
def test_perftest_bw(rxe, ours, tool, port, extra):
    base = [tool, "-d", rxe.name, "-x", str(rxe.gid_index()), "-F", "-n", "200",
            "-p", str(port), *extra]
    if "-R" in extra:
        srv, cli = run_perftest(base, base + [ADDR], port, pair=run_cm_pair)
    else:
        srv, cli = run_perftest(base, base + ["localhost"], port)
    assert srv.returncode == 0, srv.stdout
    assert cli.returncode == 0, cli.stdout
    # all 200 iterations ran; rate, not MB/s (8-byte atomics round to 0.00
    # MB/s), when perftest's clock calibration worked (run_perftest)
    row = perftest_row(cli.stdout)
    assert row["iters"] == 200, cli.stdout
    assert row["rate"] > 0 or not perftest_clock_ok(cli.stdout), cli.stdout


@pytest.mark.parametrize("tool", ["ib_write_lat", "ib_read_lat", "ib_send_lat"])
def test_perftest_lat(rxe, ours, tool):
    port = 18680 + ["ib_write_lat", "ib_read_lat", "ib_send_lat"].index(tool)
    base = [tool, "-d", rxe.name, "-x", str(rxe.gid_index()), "-F", "-n", "200",
            "-p", str(port)]
    srv, cli = run_perftest(base, base + ["localhost"], port)
    assert srv.returncode == 0, srv.stdout
    assert cli.returncode == 0, cli.stdout
    assert _perftest_lat(cli.stdout) > 0 or not perftest_clock_ok(cli.stdout), cli.stdout


# ------------------------------------------------------------ rdma_cm tools

def _cm_listening(port):
    """An RDMA CM ID listens on `port` (rdma(8)'s resource view)."""
    r = subprocess.run(["rdma", "resource", "show", "cm_id"], capture_output=True,
                       text=True)
    return any("state LISTEN" in line and re.search(rf":{port}\b", line)
               for line in r.stdout.splitlines())


def run_cm_pair(server_cmd, client_cmd, port, timeout=300):
    """Like rdma.run_pair, for programs that rendezvous through rdma_cm:
    the client starts once the server's CM ID listens on `port`."""
    srv = subprocess.Popen(server_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    deadline = time.monotonic() + 60
    try:
        while not _cm_listening(port):
            if srv.poll() is not None:
                raise AssertionError(f"server exited early ({srv.returncode}):\n"
                                     + srv.stdout.read())
            if time.monotonic() > deadline:
                raise AssertionError(f"server never listened on RDMA CM port {port}")
            time.sleep(0.05)
        cli = subprocess.run(client_cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, timeout=timeout)
        sout, _ = srv.communicate(timeout=timeout)
    finally:
        if srv.poll() is None:
            srv.kill()
            srv.wait()
    return subprocess.CompletedProcess(server_cmd, srv.returncode, sout), cli


@pytest.mark.parametrize("name,server,client,check", [
    ("rping", ["rping", "-s", "-a", ADDR, "-p", "18700", "-C", "20", "-S", "200", "-V"],
     ["rping", "-c", "-a", ADDR, "-p", "18700", "-C", "20", "-S", "200", "-V", "-v"],
     r"ping data: rdma-ping-19"),
    ("ucmatose", ["ucmatose", "-b", ADDR, "-p", "18701", "-c", "2", "-C", "20"],
     ["ucmatose", "-s", ADDR, "-p", "18701", "-c", "2", "-C", "20"],
     r"data transfers complete"),
    ("rdma_server", ["rdma_server", "-s", ADDR, "-p", "18702"],
     ["rdma_client", "-s", ADDR, "-p", "18702"], r"rdma_client: end 0"),
    ("rstream", ["rstream", "-b", ADDR, "-p", "18703", "-S", "4096", "-C", "100"],
     ["rstream", "-s", ADDR, "-p", "18703", "-S", "4096", "-C", "100"], r"custom\s+4k"),
])
def test_rdma_cm_tools(rxe, ours, name, server, client, check):
    port = int(server[server.index("-p") + 1])
    srv, cli = run_cm_pair(server, client, port)
    assert srv.returncode == 0, srv.stdout
    assert cli.returncode == 0, cli.stdout
    assert re.search(check, cli.stdout), cli.stdout


# ------------------------------------------------------ rdma-core's suite

# Results ranked: anything at or above the stock provider's rank is fine.
RANK = {"ok": 3, "expected failure": 3, "skipped": 2, "unexpected success": 1,
        "FAIL": 0, "ERROR": 0}
RERUNS = 3


def test_rdma_core_suite_stock_vs_softrxe(rxe, hugepages, monkeypatch):
    """rdma-core's own suite, once with the stock rxe provider and once with
    softrxe: every test must end at least as well with ours (pass >= skip >=
    fail). A test that ends worse is re-run alone with ours up to RERUNS
    times (the suite has timing-dependent tests, e.g. test_resize_cq races
    the kernel's completions); it must then pass."""
    monkeypatch.delenv("RDMAV_DRIVERS", raising=False)
    monkeypatch.delenv("IBV_DRIVERS", raising=False)
    stock, nstock, _ = rdmacore.whole_suite()
    mine, nmine, _ = rdmacore.whole_suite(env=OURS)
    assert nstock > 200 and nmine == nstock, (nstock, nmine)
    assert set(mine) == set(stock), set(mine) ^ set(stock)

    better = {t: (stock[t], mine[t]) for t in stock if RANK[mine[t]] > RANK[stock[t]]}
    worse = {t: (stock[t], mine[t]) for t in stock if RANK[mine[t]] < RANK[stock[t]]}
    still_worse = {}
    for t in worse:
        for _ in range(RERUNS):
            again, _, _ = rdmacore.run_suite(env=OURS, tests=(t,))
            if RANK[again.get(t, "ERROR")] >= RANK[stock[t]]:
                break
        else:
            still_worse[t] = worse[t]
    count = lambda res, s: sum(1 for v in res.values() if v == s)
    print(f"\nrdma-core suite: {nstock} tests; stock ok={count(stock, 'ok')} "
          f"skipped={count(stock, 'skipped')}; softrxe ok={count(mine, 'ok')} "
          f"skipped={count(mine, 'skipped')}")
    for t, (a, b) in sorted(better.items()):
        print(f"  better: {t}: {a} -> {b}")
    for t, (a, b) in sorted(worse.items()):
        print(f"  worse on the first run, {'still' if t in still_worse else 'not'} "
              f"on re-run: {t}: {a} -> {b}")
    assert not still_worse, still_worse
