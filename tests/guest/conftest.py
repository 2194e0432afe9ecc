"""Fixtures for tests that run inside the softodp guest (via scripts/vm-run)."""
import os
import re

import pytest

from kmsg import open_at_end, read_new

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The same patterns scripts/splat-scan uses for the whole run's log.
with open(os.path.join(TOP, "scripts", "splat-patterns")) as _f:
    SPLAT = re.compile("|".join(f"(?:{line.strip()})" for line in _f if line.strip()))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed test's report shows what the kernel logged while it ran (the
    driver names the cause of a failed fault there)."""
    outcome = yield
    rep = outcome.get_result()
    fd = getattr(item, "kmsg_fd", None)
    if rep.when == "call" and rep.failed and fd is not None:
        item.kmsg_log = read_new(fd)
        tail = item.kmsg_log.splitlines()[-40:]
        rep.sections.append(("kernel log (last 40 lines)", "\n".join(tail)))


@pytest.fixture(autouse=True)
def no_kernel_splat(request):
    """Fail the test if the kernel logged a splat while it ran."""
    fd = open_at_end()
    request.node.kmsg_fd = fd
    try:
        yield
        log = getattr(request.node, "kmsg_log", "") + read_new(fd)
    finally:
        request.node.kmsg_fd = None
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
