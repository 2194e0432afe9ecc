"""Fixtures for tests that run inside the softodp guest (via scripts/vm-run)."""
import os
import subprocess
import tempfile

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPLAT_SCAN = os.path.join(TOP, "scripts", "splat-scan")


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
    with tempfile.NamedTemporaryFile("w", suffix=".kmsg") as f:
        f.write(log)
        f.flush()
        res = subprocess.run([SPLAT_SCAN, f.name], capture_output=True, text=True)
    assert res.returncode == 0, "kernel splat during the test:\n" + res.stdout


@pytest.fixture
def rxe():
    from rdma import RxeDevice
    return RxeDevice("rxe0")
