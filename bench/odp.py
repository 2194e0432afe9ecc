#!/usr/bin/python3
"""ODP vs pinned on rxe0, side by side in one guest (run via make bench-odp).

Prints a table and ratios: perftest ib_write_bw at 4 KiB and 64 KiB (ODP
buffers are faulted on the first iterations, so most of the run measures
present pages), and the time to register and first-touch a large region."""
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "guest"))
from kinfo import kernel_line  # noqa: E402
from rdma import BIN, RxeDevice, perftest_bw, perftest_clock_ok, run_perftest  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
GID = str(RxeDevice("rxe0").gid_index())


def write_bw(size, iters, odp):
    # -u 20: a 4 s QP timeout; under TCG with a busy host the default
    # 67 ms expires before ACKs come back and turns into retransmissions
    base = ["ib_write_bw", "-d", "rxe0", "-x", GID, "-F", "-u", "20", "-s", str(size),
            "-n", str(iters), "-p", "18620"] + (["--odp"] if odp else [])
    srv, cli = run_perftest(base, base + ["localhost"], 18620)
    if srv.returncode or cli.returncode:
        sys.exit(f"ib_write_bw failed:\n{srv.stdout}\n{cli.stdout}")
    if not perftest_clock_ok(cli.stdout):
        sys.exit(f"ib_write_bw could not calibrate its clock in 3 runs:\n{cli.stdout}")
    return perftest_bw(cli.stdout)


def regtime(size, odp):
    cmd = [os.path.join(BIN, "odp_rdma"), "-d", "rxe0", "-g", GID, "-s", str(size), "regtime"]
    if not odp:
        cmd.insert(1, "-p")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return dict((k, float(v)) for k, v in (kv.split("=") for kv in out.split()))


PROVIDER = {"RDMAV_DRIVERS": os.path.join(os.path.dirname(BIN), "provider", "libsoftrxe")}


def odp_rdma(test, *args, env=None):
    cmd = [os.path.join(BIN, "odp_rdma"), "-d", "rxe0", "-g", GID, *args, test]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=dict(os.environ, **(env or {}))).stdout
    return dict((k, float(v)) for k, v in (kv.split("=") for kv in out.split()))


def implicit_section():
    """Issue 7's numbers: implicit vs explicit, prefetch, registration."""
    print(f"\n{'implicit ODP':<32}{'explicit':>12}{'implicit':>12}{'impl/expl':>12}")
    e = statistics.median(odp_rdma("bw", "-s", "65536", "-r", "400")["mbps"]
                          for _ in range(REPEAT))
    i = statistics.median(odp_rdma("bw", "-i", "-s", "65536", "-r", "400")["mbps"]
                          for _ in range(REPEAT))
    print(f"{'64 KiB RDMA WRITE, MB/s':<32}{e:>12.1f}{i:>12.1f}{i / e:>12.3f}")
    r = [odp_rdma("regcost", "-s", str(1 << 30)) for _ in range(REPEAT)]
    e = statistics.median(x["explicit_s"] for x in r)
    i = statistics.median(x["implicit_s"] for x in r)
    print(f"{'register, ms (1 GiB explicit)':<32}{e * 1e3:>12.3f}{i * 1e3:>12.3f}{i / e:>12.3f}")

    size = str(64 << 20)
    print(f"\n{'64 MiB first touch (1 MiB WRITEs)':<34}{'prefetch s':>12}{'WRITE s':>10}{'total s':>10}")
    for label, args, env in (("no prefetch", ["-a", "none"], None),
                             ("sync PREFETCH_WRITE first", ["-a", "write"], PROVIDER)):
        x = odp_rdma("touch", "-s", size, *args, env=env)
        print(f"{label:<34}{x['prefetch_s']:>12.3f}{x['first_s']:>10.3f}"
              f"{x['prefetch_s'] + x['first_s']:>10.3f}")


def main():
    print(kernel_line())
    print(f"rxe0 loopback, TCG guest, median of {REPEAT} alternating runs\n")
    print(f"{'ib_write_bw':<22}{'pinned MB/s':>14}{'ODP MB/s':>12}{'ODP/pinned':>12}")
    for size, iters in ((4096, 5000), (65536, 1000)):
        pinned, odp = [], []
        for _ in range(REPEAT):
            pinned.append(write_bw(size, iters, False))
            odp.append(write_bw(size, iters, True))
        p, o = statistics.median(pinned), statistics.median(odp)
        print(f"{f'{size // 1024} KiB x {iters}':<22}{p:>14.1f}{o:>12.1f}{o / p:>12.3f}")

    # one run each: every run moves 512 MiB through rxe, slow under TCG
    size = 256 << 20
    pin, odp = [], []
    for _ in range(1):
        pin.append(regtime(size, False))
        odp.append(regtime(size, True))
    med = {k: {m: statistics.median(r[m] for r in runs) for m in runs[0]}
           for k, runs in (("pinned", pin), ("odp", odp))}
    print(f"\n256 MiB region{'':<8}{'pinned s':>14}{'ODP s':>12}{'ODP/pinned':>12}")
    for m, label in (("reg_s", "register"), ("first_s", "first RDMA pass"),
                     ("second_s", "second RDMA pass")):
        p, o = med["pinned"][m], med["odp"][m]
        print(f"{label:<22}{p:>14.4f}{o:>12.4f}{o / p:>12.3f}")
    p = med["pinned"]["reg_s"] + med["pinned"]["first_s"]
    o = med["odp"]["reg_s"] + med["odp"]["first_s"]
    print(f"{'register + first pass':<22}{p:>14.4f}{o:>12.4f}{o / p:>12.3f}")
    implicit_section()


if __name__ == "__main__":
    main()
