"""Bad input, fuzzed: tests/progs/odp_fuzz.c drives ibv_reg_mr (pinned, explicit
and implicit ODP, random iovas and access flags), ibv_rereg_mr, ibv_advise_mr,
ibv_dereg_mr, RDMA on whatever got registered and the dpmem ioctls with random
and boundary arguments. Every call must end with a documented errno or
completion status (the tables are in odp_fuzz.c), nothing may splat and the
mirror must be left with no live object."""
import os
import re
import subprocess

from rdma import BIN, live_objects, wait_live

ODP_FUZZ = os.path.join(BIN, "odp_fuzz")
PROVIDER = {"RDMAV_DRIVERS": os.path.join(os.path.dirname(BIN), "provider", "libsoftrxe")}
# A fixed seed keeps a failure reproducible (odp_fuzz -S SEED -v shows every
# call); SOFTODP_FUZZ_SEED picks another one.
SEED = os.environ.get("SOFTODP_FUZZ_SEED", "10")
# About 1% of the fuzzed atomics complete (most targets refuse them). The
# memory-safety kernel makes about 4.5 times fewer calls per second: a 40 s
# run there makes about 170 CMP_SWP, so none completes in roughly one run
# of six (one CI run saw it). It runs three times as long.
SECONDS = 120 if os.environ.get("SOFTODP_FLAVOUR") == "kasan" else 40


def fuzz(gid, *args, timeout=300):
    return subprocess.run([ODP_FUZZ, "-d", "rxe0", "-g", gid, *args], capture_output=True,
                          text=True, timeout=timeout, env=dict(os.environ, **PROVIDER))



def parse_summary(out):
    calls, wcs = {}, {}
    for line in out.splitlines():
        cols = line.split()
        if cols[:1] == ["calls"]:
            calls[cols[1]] = dict(zip(["calls"] + cols[3::2], map(int, [cols[2]] + cols[4::2])))
        elif cols[:1] == ["wc"]:
            wcs[cols[1]] = dict(zip(["total"] + cols[3::2], map(int, [cols[2]] + cols[4::2])))
    return calls, wcs


def test_fuzzed_odp_and_dpmem_calls_get_only_documented_errors(gid):
    before = live_objects()
    r = fuzz(gid, "-S", SEED, "-t", str(SECONDS))
    assert r.returncode == 0, f"odp_fuzz:\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}"
    calls, wcs = parse_summary(r.stdout)
    print(r.stdout)
    # every kind of call was made, and worked at least once
    for kind in ("reg_pinned", "reg_odp", "reg_implicit", "rereg", "advise", "dereg",
                 "post_send", "post_recv", "dpmem_to_device", "dpmem_to_system",
                 "dpmem_residency", "dpmem_info", "dpmem_stats"):
        assert calls[kind]["ok"] > 0, (kind, calls[kind])
    # and bad input was refused: each registration kind saw errors
    for kind in ("reg_pinned", "reg_odp", "reg_implicit", "advise", "dpmem_to_device"):
        assert calls[kind]["calls"] > calls[kind]["ok"], (kind, calls[kind])
    for op in ("WRITE", "READ", "SEND", "RECV", "CMP_SWP", "FETCH_ADD"):
        assert wcs[op].get("SUCCESS", 0) > 0, (op, wcs[op])
    assert sum(n for w in wcs.values() for s, n in w.items()
               if s not in ("total", "SUCCESS")) > 0, wcs
    checked = int(re.search(r"byte-checked (\d+)", r.stdout).group(1))
    assert checked > 0, r.stdout
    assert wait_live(before) == before


def test_1tib_explicit_odp_mr_over_prot_none_registers_and_refuses_access(gid):
    before = live_objects()
    r = fuzz(gid, "huge-prot-none")
    assert r.returncode == 0, f"{r.stdout}{r.stderr}"
    assert "registered, write status=remote access error" in r.stdout, r.stdout
    assert wait_live(before) == before
