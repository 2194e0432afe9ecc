#!/usr/bin/python3
"""Every softodp benchmark in one guest run (make bench, make bench-upstream).

Runs the workloads one after the other, BENCH_REPEAT times each (pinned and
ODP alternating), and prints one JSON document between the lines
BENCH-JSON-BEGIN and BENCH-JSON-END on stdout; scripts/bench cuts it out of
the VM's output and bench/report.py turns it into tables and plots.

A workload that fails is recorded with its error ("failed: ...") and the run
goes on. --upstream runs only what a stock kernel's rxe can do (no dpmem, no
softodp counters, Debian's own rdma-core provider).

Environment: BENCH_REPEAT (default 3), BENCH_SCALE (iteration counts are
multiplied by it; default 1), BENCH_SECTIONS (comma-separated subset of
SECTIONS), BENCH_RNR_SECONDS (default 15)."""
import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "guest"))
from kinfo import kernel_info, kernel_line  # noqa: E402
from rdma import (BIN, RxeDevice, perftest_bw, perftest_clock_ok, run_pair,  # noqa: E402
                  run_perftest)

REPEAT = int(os.environ.get("BENCH_REPEAT", "3"))
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
KiB, MiB, GiB, TiB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
# message size -> perftest iterations (per QP): about 8-64 MiB per run
BW_LADDER = [(4 * KiB, 2000), (64 * KiB, 400), (1 * MiB, 48), (4 * MiB, 12)]
LAT_LADDER = [(4 * KiB, 300), (64 * KiB, 100), (1 * MiB, 12), (4 * MiB, 5)]
# a latency run takes seconds (at most 300 round trips); one that takes a
# minute hung (upstream rxe ODP latency runs do: docs/bench.md)
LAT_TIMEOUT = 60
REG_SIZES = [4 * KiB, 2 * MiB, 256 * MiB, 1 * GiB, 16 * GiB, 1 * TiB, 16 * TiB, 64 * TiB]
PINNED_MAX = 256 * MiB          # pinned MRs must fit in guest RAM (3 GiB)
UNMAP_SIZE = 16 * GiB
PROVIDER = {"RDMAV_DRIVERS": os.path.join(os.path.dirname(BIN), "provider", "libsoftrxe")}

results = []


def log(msg):
    print(f"[bench] {time.strftime('%H:%M:%S')} {msg}", flush=True)


def record(group, name, mode, unit, better, samples=None, error=None, **params):
    results.append({"group": group, "name": name, "mode": mode, "unit": unit,
                    "better": better, "params": params, "samples": samples or [],
                    "error": error})


def iters(n):
    return max(2, int(n * SCALE))


def gid():
    return str(RxeDevice("rxe0").gid_index())


def kv(out):
    """key=value pairs of the last line of out that has them."""
    lines = [ln for ln in out.splitlines() if "=" in ln]
    if not lines:
        raise ValueError(f"no key=value output in:\n{out}")
    return {k: (float(v) if re.fullmatch(r"-?[\d.]+(e-?\d+)?", v) else v)
            for k, v in (t.split("=", 1) for t in lines[-1].split())}


def prog(name, *args, env=None, timeout=900):
    cmd = [os.path.join(BIN, name), "-d", "rxe0", "-g", gid(), *args]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       env=dict(os.environ, **(env or {})))
    if r.returncode:
        raise RuntimeError(f"{' '.join(cmd[3:])}: exit {r.returncode}: "
                           f"{(r.stdout + r.stderr).strip()[-300:]}")
    return kv(r.stdout)


# ---- perftest: bandwidth and latency, ODP vs pinned ----

class Hung(RuntimeError):
    """A workload that did not finish in its time; the sweep stops that
    tool's mode there, since every larger size would hang as long."""


def perftest(tool, size, n, qps=1, odp=False, port=18630, timeout=300):
    # -u 20: a 4 s QP timeout (TCG is slow to ACK, see bench/odp.py)
    base = [tool, "-d", "rxe0", "-x", gid(), "-F", "-u", "20", "-s", str(size),
            "-n", str(n), "-p", str(port)]
    if qps > 1:
        base += ["-q", str(qps)]
    if odp:
        base.append("--odp")
    try:
        srv, cli = run_perftest(base, base + ["localhost"], port,
                                pair=lambda s, c, p: run_pair(s, c, p, timeout=timeout))
    except subprocess.TimeoutExpired:
        raise Hung(f"hung: {tool} did not finish in {timeout} s") from None
    if srv.returncode or cli.returncode:
        tail = (srv.stdout + cli.stdout).strip().splitlines()[-4:]
        raise RuntimeError(f"{tool} exit {srv.returncode}/{cli.returncode}: {' | '.join(tail)}")
    if not perftest_clock_ok(cli.stdout):
        raise RuntimeError(f"{tool}: perftest could not calibrate its clock")
    return cli.stdout


def lat_typical(out):
    """t_typical (usec) of a perftest *_lat report."""
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 6 and all(re.fullmatch(r"[\d.]+", c) for c in cols[:6]):
            return float(cols[4])
    raise ValueError("no latency line in:\n" + out)


def sweep(group, name, unit, better, configs, measure, modes=("pinned", "odp")):
    """For every config, REPEAT rounds of every mode, alternating. A mode
    that hung (Hung) is not run again for the configs that follow."""
    hung = {}
    for params in configs:
        samples = {m: [] for m in modes}
        errors = {m: f"not run: {hung[m]} at a smaller size" for m in hung}
        for _ in range(REPEAT):
            for m in modes:
                if m in errors:
                    continue
                try:
                    samples[m].append(measure(m, **params))
                except Hung as e:
                    errors[m] = str(e)
                    hung[m] = str(e)
                except Exception as e:  # recorded, not fatal
                    errors[m] = f"failed: {e}"
        for m in modes:
            record(group, name, m, unit, better, samples[m], errors.get(m), **params)
        log(f"{name} {params}: " + ", ".join(
            f"{m}={sorted(samples[m])}" if m not in errors else f"{m} {errors[m][:120]}"
            for m in modes))


def section_bw():
    for tool in ("ib_write_bw", "ib_read_bw", "ib_send_bw"):
        configs = [{"size": s, "qps": q, "iters": iters(n)}
                   for q in (1, 4) for s, n in BW_LADDER]
        sweep("bw", tool, "MB/s", "higher", configs,
              lambda m, size, qps, iters, tool=tool:
              perftest_bw(perftest(tool, size, iters, qps, m == "odp")))


def section_lat():
    for tool in ("ib_write_lat", "ib_read_lat", "ib_send_lat"):
        configs = [{"size": s, "iters": iters(n)} for s, n in LAT_LADDER]
        sweep("lat", tool, "usec", "lower", configs,
              lambda m, size, iters, tool=tool:
              lat_typical(perftest(tool, size, iters, 1, m == "odp",
                                   timeout=LAT_TIMEOUT)))


def section_implicit():
    """perftest has no implicit ODP: odp_rdma bw, explicit vs implicit MR."""
    configs = [{"size": s, "iters": iters(max(4, n // 8))} for s, n in BW_LADDER]
    sweep("bw", "odp_rdma_write", "MB/s", "higher", configs,
          lambda m, size, iters: prog("odp_rdma", "-s", str(size), "-r", str(iters),
                                      *(["-i"] if m == "implicit" else []), "bw")["mbps"],
          modes=("odp", "implicit"))


def write_hold(us=None):
    """Read, or with `us` set, rxe's odp_write_hold_us; None on a kernel
    without it (upstream)."""
    path = "/sys/module/rdma_rxe/parameters/odp_write_hold_us"
    if not os.path.exists(path):
        return None
    if us is not None:
        with open(path, "w") as f:
            f.write(str(us))
    with open(path) as f:
        return f.read().strip()


def section_touch():
    # softodp's default (a WRITE waits up to the hold for its fault) and,
    # alternating with it, hold 0 (an RNR NAK at once, as before the hold)
    default = write_hold()
    holds = [(default, "")] + ([("0", "_rnr")] if default is not None else [])
    keys = (("write_first_ns", "odp_write_first"), ("write_warm_ns", "odp_write_warm"),
            ("read_first_ns", "odp_read_first"), ("read_warm_ns", "odp_read_warm"))
    try:
        for kind, args in (("4k", []), ("thp", ["-H"])):
            samples, err = {suffix: [] for _, suffix in holds}, None
            # a fault is a small difference of two noisy passes: more runs
            for _ in range(2 * REPEAT + 1):
                try:
                    for hold, suffix in holds:
                        write_hold(hold)
                        samples[suffix].append(prog("bench_mm", "-s", str(64 * MiB), *args,
                                                    "touch"))
                except Exception as e:
                    err = f"failed: {e}"
                    break
            base = samples[""]
            record("touch", f"first touch {kind}", "cpu", "ns/page", "lower",
                   [s["cpu_ns"] for s in base], err, page=kind,
                   thp_kb=[s["thp_kb"] for s in base], hold_us=default)
            for _, suffix in holds:
                got = samples[suffix]
                for key, mode in keys:
                    record("touch", f"first touch {kind}", mode + suffix, "ns/page", "lower",
                           [s[key] for s in got], err, page=kind,
                           thp_kb=[s["thp_kb"] for s in got],
                           hold_us=default if not suffix else "0")
            log(f"touch {kind}: {err or samples}")
    finally:
        write_hold(default)


def section_reg():
    for size in REG_SIZES:
        for mode in ("pinned", "odp"):
            if mode == "pinned" and size > PINNED_MAX:
                continue
            samples, err = [], None
            for _ in range(REPEAT):
                try:
                    r = prog("bench_mm", "-s", str(size), "-r", "5",
                             *(["-p"] if mode == "pinned" else []), "reg")
                except Exception as e:
                    err = f"failed: {e}"
                    break
                if "failed" in r:
                    err = f"failed: {r['failed']} ({r.get('where', '?')})"
                    break
                samples.append(r)
            record("reg", "register", mode, "us", "lower",
                   [s["reg_us"] for s in samples], err, size=size)
            record("reg", "deregister", mode, "us", "lower",
                   [s["dereg_us"] for s in samples], err, size=size)
            log(f"reg {size} {mode}: {[s['reg_us'] for s in samples] or err}")


def section_unmap():
    for mode, m in (("no_mr", "0"), ("odp_mr", "1")):
        samples, err = [], None
        for _ in range(REPEAT):
            try:
                samples.append(prog("bench_mm", "-s", str(UNMAP_SIZE), "-m", m, "-r", "3",
                                    "unmap"))
            except Exception as e:
                err = f"failed: {e}"
                break
        record("unmap", "munmap", mode, "us", "lower", [s["munmap_us"] for s in samples],
               err, size=UNMAP_SIZE)
        record("unmap", "exit", mode, "us", "lower", [s["exit_us"] for s in samples],
               err, size=UNMAP_SIZE)
        log(f"unmap {mode}: {samples or err}")


def section_prefetch(upstream):
    size = 64 * MiB
    env = None if upstream else PROVIDER
    for mode, args, e in (("no_prefetch", ["-a", "none"], None),
                          ("prefetch_write", ["-a", "write"], env)):
        samples, err = [], None
        for _ in range(REPEAT):
            try:
                samples.append(prog("odp_rdma", "-s", str(size), *args, "touch", env=e))
            except Exception as ex:
                err = f"failed: {ex}"
                break
        for key in ("prefetch_s", "first_s"):
            record("prefetch", key, mode, "s", "lower", [s[key] for s in samples], err,
                   size=size)
        record("prefetch", "total_s", mode, "s", "lower",
               [s["prefetch_s"] + s["first_s"] for s in samples], err, size=size)
        log(f"prefetch {mode}: {samples or err}")


def section_dontneed():
    samples, err = [], None
    for _ in range(REPEAT):
        try:
            samples.append(prog("bench_mm", "-r", "20", "dontneed"))
        except Exception as e:
            err = f"failed: {e}"
            break
    for key, mode in (("nomr_us", "no_mr"), ("idle_us", "odp_idle"),
                      ("traffic_us", "odp_traffic")):
        record("dontneed", "MADV_DONTNEED 2 MiB", mode, "us", "lower",
               [s[key] for s in samples], err)
    log(f"dontneed: {samples or err}")


def section_rnr():
    import rnr
    try:
        rows = rnr.measure(os.environ.get("BENCH_RNR_SECONDS", "15"))
    except BaseException as e:  # rnr.run exits on failure
        record("rnr", "odp_rnr storm", "quiet", "ops/s", "higher", error=f"failed: {e}")
        return
    for name, s, d, lat in rows:
        record("rnr", "odp_rnr storm", name, "ops/s", "higher", [s["ops"] / s["secs"]],
               rnr_naks=d.get("odp_rnr_naks"), deferred=d.get("odp_faults_deferred"),
               p50_us_below=lat.get("p50_us_below"), p99_us_below=lat.get("p99_us_below"),
               max_us=lat.get("max_us"))
    log(f"rnr: {[(r[0], r[1]) for r in rows]}")


def section_peer():
    import peer
    try:
        res = peer.measure(REPEAT)
    except BaseException as e:  # peer.run exits on failure
        record("peer", "dpmem", "p2p", "MB/s", "higher", error=f"failed: {e}")
        return
    for mode in ("p2p", "migrate", "system"):
        for key, val in res[mode].items():
            record("peer", key, mode, "MB/s", "higher", [val])
    log(f"peer: {res}")


SECTIONS = ["bw", "lat", "implicit", "touch", "reg", "unmap", "prefetch", "dontneed",
            "rnr", "peer"]
UPSTREAM_SKIP = {"rnr", "peer"}  # softodp counters and dpmem only


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", action="store_true")
    args = ap.parse_args()
    want = os.environ.get("BENCH_SECTIONS")
    sections = want.split(",") if want else SECTIONS
    if args.upstream:
        sections = [s for s in sections if s not in UPSTREAM_SKIP]
    info = kernel_info()
    log(kernel_line(info))
    start = time.monotonic()
    timing = {}
    for s in sections:
        t0 = time.monotonic()
        log(f"section {s}")
        fn = globals()[f"section_{s}"]
        fn(args.upstream) if s == "prefetch" else fn()
        timing[s] = round(time.monotonic() - t0, 1)
    doc = {"kernel": info, "upstream": args.upstream, "repeat": REPEAT, "scale": SCALE,
           "sections": sections, "section_seconds": timing,
           "seconds": round(time.monotonic() - start, 1),
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results}
    print("BENCH-JSON-BEGIN")
    print(json.dumps(doc))
    print("BENCH-JSON-END", flush=True)


if __name__ == "__main__":
    main()
