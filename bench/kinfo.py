"""Which kernel a benchmark ran on: every benchmark prints this first."""
import gzip
import os
import platform
import re


def kernel_info():
    """uname, the softodp flavour, whether lockdep is on, and (when the
    kernel has /proc/config.gz, as the release flavour does) a few of the
    debug options that change what a number means."""
    info = {"uname_r": platform.release(), "uname_a": " ".join(platform.uname()),
            "flavour": os.environ.get("SOFTODP_BENCH_KERNEL",
                                      os.environ.get("SOFTODP_FLAVOUR", "?")),
            "lockdep": os.path.exists("/proc/lockdep"), "config": None}
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            conf = f.read()
    except OSError:
        return info
    info["config"] = {}
    for sym in ("PROVE_LOCKING", "DEBUG_VM", "DEBUG_LIST", "KASAN", "RDMA_RXE",
                "INFINIBAND_ON_DEMAND_PAGING"):
        m = re.search(rf"^CONFIG_{sym}=(\S+)", conf, re.M)
        info["config"][sym] = m.group(1) if m else "n"
    return info


def kernel_line(info=None):
    info = info or kernel_info()
    conf = info["config"]
    extra = (" " + " ".join(f"{k}={v}" for k, v in conf.items())) if conf else \
        " (no /proc/config.gz)"
    return (f"kernel: {info['uname_r']} flavour={info['flavour']} "
            f"lockdep={'on' if info['lockdep'] else 'off'}{extra}")
