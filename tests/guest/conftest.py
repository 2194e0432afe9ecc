"""Fixtures for tests that run inside the softodp guest (via scripts/vm-run)."""
import os
import re

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The same patterns scripts/splat-scan uses for the whole run's log.
with open(os.path.join(TOP, "scripts", "splat-patterns")) as _f:
    SPLAT = re.compile("|".join(f"(?:{line.strip()})" for line in _f if line.strip()))


def _read_new_kmsg(fd):
    """Return the kernel log records that arrived since fd was positioned."""
    out = []
    while True:
        try:
            rec = os.read(fd, 8192)
        except BlockingIOError:
            break
        except BrokenPipeError:  # records overwritten: keep reading
            continue
        if not rec:
            break
        # "prio,seq,time,flags;message" + continuation lines
        text = rec.decode(errors="replace")
        out.append(text.split(";", 1)[1] if ";" in text else text)
    return "".join(out)


@pytest.fixture(autouse=True)
def no_kernel_splat():
    """Fail the test if the kernel logged a splat while it ran."""
    fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    os.lseek(fd, 0, os.SEEK_END)
    try:
        yield
        log = _read_new_kmsg(fd)
    finally:
        os.close(fd)
    lines = log.splitlines()
    hits = [i for i, line in enumerate(lines) if SPLAT.search(line)]
    assert not hits, "kernel splat during the test:\n" + "\n".join(
        lines[max(0, hits[0] - 2):hits[0] + 30])


@pytest.fixture
def hugepages():
    """Reserve 64 2 MiB pages for the test (rdma-core's huge-page ODP tests,
    MAP_HUGETLB scenarios), and give them back afterwards."""
    path = "/proc/sys/vm/nr_hugepages"
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write("64")
    with open(path) as f:
        assert int(f.read()) == 64, "could not reserve 64 huge pages"
    yield
    with open(path, "w") as f:
        f.write(old)


@pytest.fixture(scope="module")
def gid():
    """rxe0's RoCE v2 IPv4 GID index."""
    from rdma import RxeDevice
    return str(RxeDevice("rxe0").gid_index())


@pytest.fixture
def rxe():
    from rdma import RxeDevice
    return RxeDevice("rxe0")
