"""dpmem: device-private memory provider (issue 4), modelled on hmm-tests.

Every test checks bytes, residency and counters, and leaves no page on any
device (an autouse fixture asserts that after each test).
"""
import ctypes
import errno
import fcntl
import functools
import os
import random
import re
import subprocess

import pytest

import dpmem
from dpmem import (PAGE, RES_DEVICE, RES_NONE, RES_PEER, RES_SYSTEM, RES_UNKNOWN,
                   Dpmem, Mapping)

MIB = 1 << 20
SIZE = 16 * MIB
NPAGES = SIZE // PAGE

# the shared autouse check that no test leaves pages on a device
no_pages_left_behind = dpmem.no_pages_left_behind


@functools.lru_cache(maxsize=8)
def pattern(size, seed):
    """Random bytes, the same for the same arguments (made once: TCG is slow)."""
    return random.Random(seed).randbytes(size)


def delta(after, before):
    return {k: after[k] - before[k] for k in before}


def dmesg():
    return subprocess.run(["dmesg"], capture_output=True, text=True).stdout


@pytest.fixture
def maps():
    """Factory for raw mappings, all unmapped at teardown."""
    made = []

    def make(size, **kw):
        m = Mapping(size, **kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.unmap()


@pytest.fixture
def dev0():
    with Dpmem(0) as d:
        yield d


@pytest.fixture
def dev1():
    with Dpmem(1) as d:
        yield d


@pytest.fixture
def filled(maps):
    """A 16 MiB private anonymous buffer holding random bytes."""
    m = maps(SIZE)
    data = pattern(SIZE, 1)
    m.write(data)
    return m, data


def states(d, m, offset=0, length=None):
    length = m.size - offset if length is None else length
    rmap, count = d.residency(m.addr + offset, length)
    return rmap, count


def counts(d, m):
    return states(d, m)[1]


def only(n, state):
    c = [0] * 5
    c[state] = n
    return c


@pytest.fixture
def reload_module():
    """Reload dpmem with parameters; the default module is back afterwards."""
    def reload(**params):
        dpmem.unload_module()
        dpmem.load_module(**params)

    yield reload
    if dpmem.module_loaded():
        dpmem.unload_module()
    dpmem.load_module()


# --- the ABI --------------------------------------------------------------

def test_info_reports_version_instances_and_capacity(dev0, dev1):
    for i, d in enumerate((dev0, dev1)):
        info = dpmem.raw_ioctl(d.fd, dpmem.IOC_INFO, dpmem.Info())
        assert (info.version, info.index, info.nr_devices) == (1, i, 2)
        assert info.page_size == PAGE
        assert info.capacity == 256 * MIB
        assert list(info.reserved) == [0] * 5
        assert d.stats()["capacity_pages"] == 256 * MIB // PAGE


def test_each_instance_is_a_misc_device_for_root_only():
    for i in range(2):
        st = os.stat(f"/dev/dpmem{i}")
        assert oct(st.st_mode & 0o777) == "0o600"
    assert os.path.exists("/sys/class/misc/dpmem0")


# --- migrate and verify bytes ---------------------------------------------

def test_migrate_to_device_and_back_keeps_bytes(dev0, filled):
    m, data = filled
    before = dev0.stats()

    r = dev0.to_device(m.addr, m.size)
    assert (r.moved, r.moved_peer, r.failed, r.out_flags) == (NPAGES, 0, 0, 0)
    assert counts(dev0, m) == only(NPAGES, RES_DEVICE)
    mid = dev0.stats()
    assert mid["pages_resident"] == NPAGES
    assert delta(mid, before)["bytes_in"] == SIZE

    r = dev0.to_system(m.addr, m.size)
    assert (r.moved, r.failed) == (NPAGES, 0)
    assert counts(dev0, m) == only(NPAGES, RES_SYSTEM)
    d = delta(dev0.stats(), before)
    assert d["bytes_out"] == SIZE and d["cpu_faults"] == 0
    # Checked only now: reading earlier would have faulted pages back.
    assert m.read() == data


def test_migrating_twice_moves_nothing_the_second_time(dev0, filled):
    m, data = filled
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    r = dev0.to_device(m.addr, m.size)
    assert (r.moved, r.failed) == (0, 0)
    assert dev0.to_system(m.addr, m.size).moved == NPAGES
    r = dev0.to_system(m.addr, m.size)
    assert (r.moved, r.failed) == (0, 0)
    assert m.read() == data


def test_untouched_pages_move_as_zero_filled_device_pages(dev0, maps):
    m = maps(SIZE)
    assert counts(dev0, m) == only(NPAGES, RES_NONE)
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    assert counts(dev0, m) == only(NPAGES, RES_DEVICE)
    assert m.read() == bytes(SIZE)
    assert counts(dev0, m) == only(NPAGES, RES_SYSTEM)


def test_read_only_zero_pages_move_and_read_back_as_zero(dev0, maps):
    m = maps(SIZE)
    m.read()  # maps the shared zero page everywhere
    assert counts(dev0, m) == only(NPAGES, RES_SYSTEM)
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    assert m.read() == bytes(SIZE)


# --- CPU access faults pages back -----------------------------------------

def test_cpu_read_after_migrate_faults_every_page_back(dev0, filled):
    m, data = filled
    before = dev0.stats()
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    assert m.read() == data
    assert counts(dev0, m) == only(NPAGES, RES_SYSTEM)
    d = delta(dev0.stats(), before)
    assert d["cpu_faults"] == NPAGES
    assert d["bytes_out"] == SIZE


def test_cpu_write_after_migrate_faults_only_the_written_pages_back(dev0, filled):
    m, data = filled
    data = bytearray(data)
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    before = dev0.stats()
    written = range(0, NPAGES, 3)
    for p in written:
        off = p * PAGE + 100
        m.write(b"\xa5" * 8, off)
        data[off:off + 8] = b"\xa5" * 8
    rmap, c = states(dev0, m)
    for p in range(NPAGES):
        assert rmap[p] == (RES_SYSTEM if p % 3 == 0 else RES_DEVICE)
    assert delta(dev0.stats(), before)["cpu_faults"] == len(written)
    assert m.read() == bytes(data)


def test_kernel_access_through_proc_self_mem_faults_pages_back(dev0, filled):
    # get_user_pages() on a device page faults it back like a CPU access.
    m, data = filled
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    before = dev0.stats()
    fd = os.open("/proc/self/mem", os.O_RDONLY)
    try:
        got = os.pread(fd, 4 * PAGE, m.addr)
    finally:
        os.close(fd)
    assert got == data[:4 * PAGE]
    assert delta(dev0.stats(), before)["cpu_faults"] == 4
    rmap, _ = states(dev0, m)
    assert list(rmap[:5]) == [RES_SYSTEM] * 4 + [RES_DEVICE]
    assert m.read() == data


def test_migrate_in_chunks_and_repeatedly(dev0, filled):
    m, data = filled
    chunk = MIB
    for _ in range(3):
        moved = [dev0.to_device(m.addr + off, chunk).moved for off in range(0, SIZE, chunk)]
        assert moved == [chunk // PAGE] * (SIZE // chunk)
        assert counts(dev0, m) == only(NPAGES, RES_DEVICE)
        moved = [dev0.to_system(m.addr + off, chunk).moved for off in range(0, SIZE, chunk)]
        assert moved == [chunk // PAGE] * (SIZE // chunk)
        assert counts(dev0, m) == only(NPAGES, RES_SYSTEM)
    assert m.read() == data


def test_partial_range_moves_only_its_pages(dev0, filled):
    m, data = filled
    off, length = 3 * PAGE, 5 * PAGE
    assert dev0.to_device(m.addr + off, length).moved == 5
    rmap, _ = states(dev0, m)
    assert [p for p in range(NPAGES) if rmap[p] == RES_DEVICE] == list(range(3, 8))
    assert dev0.to_system(m.addr, m.size).moved == 5
    assert m.read() == data


def test_range_spanning_several_vmas_moves_all_of_them(dev0, maps):
    # Three adjacent mappings with different protections are three VMAs.
    m = maps(3 * MIB)
    data = pattern(m.size, 7)
    m.write(data)
    Mapping(MIB, prot=dpmem.PROT_READ, flags=dpmem.MAP_PRIVATE | dpmem.MAP_ANONYMOUS |
            dpmem.MAP_FIXED, addr=m.addr + MIB)
    assert m.read(MIB, MIB) == bytes(MIB)  # the middle was replaced by zero pages
    data = data[:MIB] + bytes(MIB) + data[2 * MIB:]
    assert dev0.to_device(m.addr, m.size).moved == m.pages
    assert counts(dev0, m) == only(m.pages, RES_DEVICE)
    assert m.read() == data


def test_prot_none_pages_read_as_unknown(dev0, maps):
    m = maps(MIB)
    m.write(b"x" * MIB)
    m.mprotect(dpmem.PROT_NONE)
    assert counts(dev0, m) == only(m.pages, RES_UNKNOWN)
    m.mprotect(dpmem.PROT_READ | dpmem.PROT_WRITE)
    assert counts(dev0, m) == only(m.pages, RES_SYSTEM)


def test_prot_none_memory_is_refused_and_nothing_moves(dev0, maps):
    # hmm-tests' migrate_mixed: migrating a PROT_NONE area is an error; an
    # untouched PROT_NONE address must not become a zero-filled device page
    m = maps(2 * MIB)
    data = pattern(MIB, 21)
    m.write(data)
    Mapping(MIB, prot=dpmem.PROT_NONE, flags=dpmem.MAP_PRIVATE | dpmem.MAP_ANONYMOUS |
            dpmem.MAP_FIXED, addr=m.addr + MIB)
    before = dev0.stats()
    with pytest.raises(OSError) as e:
        dev0.to_device(m.addr, m.size)
    assert e.value.errno == errno.EINVAL
    assert re.search(rf"dpmem0: .*\[{os.getpid()}\]: \[{m.addr:#x}, .* includes memory mapped "
                     rf"PROT_NONE at {m.addr + MIB:#x}", dmesg())
    # refused as a whole: the readable half did not move either
    assert counts(dev0, m) == [0, m.pages // 2, 0, 0, m.pages // 2]
    assert delta(dev0.stats(), before)["bytes_in"] == 0
    with pytest.raises(OSError) as e:
        dev0.to_device(m.addr + MIB, MIB)
    assert e.value.errno == errno.EINVAL
    assert m.read(0, MIB) == data


KSM = "/sys/kernel/mm/ksm/"
MADV_MERGEABLE = 12


def ksm_merging_pages():
    with open("/proc/self/ksm_merging_pages") as f:
        return int(f.read())


def pfns(addr, npages):
    """The PFN of each page (None if not present), from /proc/self/pagemap."""
    with open("/proc/self/pagemap", "rb") as f:
        f.seek(addr // PAGE * 8)
        raw = f.read(npages * 8)
    out = []
    for i in range(npages):
        e = int.from_bytes(raw[i * 8:i * 8 + 8], "little")
        out.append(e & ((1 << 55) - 1) if e >> 63 else None)
    return out


@pytest.fixture
def ksm():
    """ksmd scanning fast; its settings back, and everything unmerged, after."""
    knobs = ("run", "pages_to_scan", "sleep_millisecs")
    saved = {}
    for k in knobs:
        with open(KSM + k) as f:
            saved[k] = f.read().strip()

    def put(knob, value):
        with open(KSM + knob, "w") as f:
            f.write(value)
    put("pages_to_scan", "4096")
    put("sleep_millisecs", "10")
    put("run", "1")
    try:
        yield put
    finally:
        put("run", "2")  # unmerge
        for k in reversed(knobs):
            put(k, saved[k])


def test_ksm_pages_stay_in_system_memory_and_count_as_failed(dev0, maps, ksm):
    # moving a KSM page would unmap it from every process that shares it
    m = maps(MIB)
    m.write(b"k" * (MIB // 2) + pattern(MIB // 2, 22))
    merged = m.pages // 2
    m.madvise(MADV_MERGEABLE)
    assert dpmem.wait_for(lambda: ksm_merging_pages() >= merged, timeout=120), \
        f"ksmd merged {ksm_merging_pages()} of {merged} pages in 120 s"
    ksm("run", "0")  # ksmd stops; merged pages stay merged
    shared = pfns(m.addr, merged)
    assert shared[0] is not None and shared == [shared[0]] * merged, "not one KSM page"
    r = dev0.to_device(m.addr, m.size)
    assert (r.moved, r.failed) == (m.pages - merged, merged)
    rmap, _ = states(dev0, m)
    assert [p for p in range(m.pages) if rmap[p] == RES_SYSTEM] == list(range(merged))
    assert pfns(m.addr, merged) == shared  # still the one KSM page
    assert dev0.to_system(m.addr, m.size).moved == m.pages - merged
    assert m.read() == b"k" * (MIB // 2) + pattern(MIB // 2, 22)


_libc = ctypes.CDLL(None, use_errno=True)
_libc.vmsplice.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_uint]
_libc.vmsplice.restype = ctypes.c_ssize_t
F_SETPIPE_SZ = 1031


class Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def test_pinned_pages_stay_and_count_as_failed(dev0, maps):
    # pages a pipe holds references to (vmsplice) cannot be migrated; the
    # kernel skips them, and the call must say so: moved + failed = pages
    m = maps(MIB)
    data = pattern(MIB, 23)
    m.write(data)
    pinned = 16
    r_fd, w_fd = os.pipe()
    try:
        fcntl.fcntl(w_fd, F_SETPIPE_SZ, pinned * PAGE)
        iov = Iovec(m.addr + 8 * PAGE, pinned * PAGE)
        assert _libc.vmsplice(w_fd, ctypes.byref(iov), 1, 0) == pinned * PAGE
        r = dev0.to_device(m.addr, m.size)
        assert (r.moved, r.failed) == (m.pages - pinned, pinned)
        rmap, _ = states(dev0, m)
        assert [p for p in range(m.pages) if rmap[p] == RES_SYSTEM] == \
            list(range(8, 8 + pinned))
        assert os.read(r_fd, pinned * PAGE) == data[8 * PAGE:(8 + pinned) * PAGE]
    finally:
        os.close(r_fd)
        os.close(w_fd)
    assert dev0.to_system(m.addr, m.size).moved == m.pages - pinned
    assert m.read() == data


def anon_huge_kb(addr):
    """AnonHugePages of the VMA that starts at addr, from /proc/self/smaps."""
    with open("/proc/self/smaps") as f:
        inside = False
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                inside = int(line.split("-")[0], 16) == addr
            elif inside and line.startswith("AnonHugePages:"):
                return int(line.split()[1])
    return None


def test_transparent_huge_pages_are_split_and_moved(dev0, maps):
    # 2 MiB-aligned, so the kernel can back it with a huge page.
    outer = maps(4 * MIB)
    start = (outer.addr + 2 * MIB - 1) & ~(2 * MIB - 1)
    m = Mapping(2 * MIB, flags=dpmem.MAP_PRIVATE | dpmem.MAP_ANONYMOUS | dpmem.MAP_FIXED,
                addr=start)
    m.madvise(dpmem.MADV_HUGEPAGE)
    data = pattern(m.size, 11)
    m.write(data)
    assert anon_huge_kb(m.addr) == 2048, "no huge page to split: the test would prove nothing"
    assert dev0.to_device(m.addr, m.size).moved == m.pages
    assert counts(dev0, m) == only(m.pages, RES_DEVICE)
    assert m.read() == data


def test_mremap_moves_device_pages_with_the_mapping(dev0, maps):
    m = maps(2 * MIB)
    data = pattern(m.size, 12)
    m.write(data)
    assert dev0.to_device(m.addr, m.size).moved == m.pages
    target = maps(4 * MIB)  # a place to move to, away from the original
    old = m.addr
    m.move_to(target.addr + MIB)
    assert m.addr != old
    assert counts(dev0, m) == only(m.pages, RES_DEVICE)
    assert m.read() == data


def test_madvise_dontneed_drops_device_pages(dev0, filled):
    m, _ = filled
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    before = dev0.stats()
    m.madvise(dpmem.MADV_DONTNEED, 0, SIZE // 2)
    assert dev0.stats()["pages_resident"] == NPAGES // 2
    assert delta(dev0.stats(), before)["bytes_out"] == 0
    assert m.read(0, SIZE // 2) == bytes(SIZE // 2)  # dropped: zero-fill on demand


# --- memory that cannot move ----------------------------------------------

def test_shared_anonymous_mapping_is_refused(dev0, maps):
    m = maps(MIB, flags=dpmem.MAP_SHARED | dpmem.MAP_ANONYMOUS)
    m.write(b"s" * MIB)
    with pytest.raises(OSError) as e:
        dev0.to_device(m.addr, m.size)
    assert e.value.errno == errno.EOPNOTSUPP
    assert re.search(rf"dpmem0: .*\[{os.getpid()}\]: \[{m.addr:#x}, .* includes a shared mapping",
                     dmesg())
    assert counts(dev0, m) == only(m.pages, RES_SYSTEM)
    assert m.read() == b"s" * MIB


@pytest.mark.parametrize("flags", [dpmem.MAP_PRIVATE, dpmem.MAP_SHARED],
                         ids=["private", "shared"])
def test_file_mapping_is_refused(dev0, maps, tmp_path, flags):
    path = tmp_path / "f"
    path.write_bytes(b"f" * MIB)
    fd = os.open(path, os.O_RDWR)
    try:
        m = maps(MIB, flags=flags, fd=fd)
    finally:
        os.close(fd)
    m.write(b"g" * PAGE)  # a private mapping now has one anonymous COW page
    with pytest.raises(OSError) as e:
        dev0.to_device(m.addr, m.size)
    assert e.value.errno == errno.EOPNOTSUPP
    with pytest.raises(OSError) as e:
        dev0.to_system(m.addr, m.size)
    assert e.value.errno == errno.EOPNOTSUPP
    # Only the written page is mapped so far; reading maps the rest.
    assert counts(dev0, m) == [m.pages - 1, 1, 0, 0, 0]
    assert m.read() == b"g" * PAGE + b"f" * (MIB - PAGE)
    assert counts(dev0, m) == only(m.pages, RES_SYSTEM)


def test_range_that_includes_a_shared_mapping_moves_nothing(dev0, maps):
    m = maps(2 * MIB)
    m.write(b"a" * m.size)
    Mapping(MIB, flags=dpmem.MAP_SHARED | dpmem.MAP_ANONYMOUS | dpmem.MAP_FIXED,
            addr=m.addr + MIB)
    with pytest.raises(OSError) as e:
        dev0.to_device(m.addr, m.size)
    assert e.value.errno == errno.EOPNOTSUPP
    # Refused as a whole: not even the anonymous half moved.
    assert counts(dev0, m)[RES_DEVICE] == 0


# --- lifetime: munmap, exit, close, fork ----------------------------------

def test_munmap_while_on_device_frees_the_device_pages(dev0, filled):
    m, _ = filled
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    assert dev0.stats()["pages_resident"] == NPAGES
    m.unmap()
    # Freed in place, not migrated: nothing moves out.
    s = dev0.stats()
    assert s["pages_resident"] == 0


def test_process_exit_while_on_device_frees_every_page(dev0, dev1):
    before = [dev0.stats(), dev1.stats()]
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            m = Mapping(SIZE)
            m.write(pattern(SIZE, 3))
            half = SIZE // 2
            ok = (Dpmem(0).to_device(m.addr, half).moved == half // PAGE and
                  Dpmem(1).to_device(m.addr + half, half).moved == half // PAGE)
            os.write(w, b"1" if ok else b"0")
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    assert os.read(r, 1) == b"1"
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # Exit frees the pages in place; the mm may be torn down a moment later.
    assert dpmem.wait_for(lambda: dev0.stats()["pages_resident"] == 0 and
                          dev1.stats()["pages_resident"] == 0)
    for d, b in zip((dev0, dev1), before):
        dd = delta(d.stats(), b)
        assert dd["bytes_in"] == SIZE // 2
        assert dd["bytes_out"] == 0 and dd["evictions"] == 0


def test_closing_the_file_leaves_pages_on_the_device(filled):
    m, data = filled
    d = Dpmem(0)
    assert d.to_device(m.addr, m.size).moved == NPAGES
    d.close()
    with Dpmem(0) as again:
        assert counts(again, m) == only(NPAGES, RES_DEVICE)
        assert m.read() == data
        assert again.stats()["pages_resident"] == 0


def test_fork_with_pages_on_device_parent_and_child_both_write(dev0, filled):
    m, data = filled
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    # Child writes the even pages, parent the odd ones; each must see only its own.
    child_data = bytearray(data)
    parent_data = bytearray(data)
    for p in range(NPAGES):
        (child_data if p % 2 == 0 else parent_data)[p * PAGE:p * PAGE + 16] = b"C" * 8 + b"P" * 8
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            for p in range(0, NPAGES, 2):
                m.write(b"C" * 8 + b"P" * 8, p * PAGE)
            os.write(w, b"1" if m.read() == bytes(child_data) else b"0")
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    for p in range(1, NPAGES, 2):
        m.write(b"C" * 8 + b"P" * 8, p * PAGE)
    assert os.read(r, 1) == b"1", "the child saw the parent's writes or lost data"
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert m.read() == bytes(parent_data)


def test_fork_child_reads_device_pages_parent_keeps_them(dev0, filled):
    m, data = filled
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if m.read() == data else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The child's read fault moved the shared pages back for both processes.
    assert counts(dev0, m) == only(NPAGES, RES_SYSTEM)
    assert m.read() == data


# --- two instances ---------------------------------------------------------

def test_two_instances_move_the_same_range_back_and_forth(dev0, dev1, filled):
    m, data = filled
    b0, b1 = dev0.stats(), dev1.stats()
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    rounds = 3
    for _ in range(rounds):
        r = dev1.to_device(m.addr, m.size)
        assert (r.moved, r.moved_peer, r.failed) == (NPAGES, NPAGES, 0)
        assert counts(dev1, m) == only(NPAGES, RES_DEVICE)
        assert counts(dev0, m) == only(NPAGES, RES_PEER)
        r = dev0.to_device(m.addr, m.size)
        assert (r.moved, r.moved_peer, r.failed) == (NPAGES, NPAGES, 0)
        assert counts(dev0, m) == only(NPAGES, RES_DEVICE)
    # dev1 cannot bring back what it does not hold.
    assert dev1.to_system(m.addr, m.size).moved == 0
    assert dev0.to_system(m.addr, m.size).moved == NPAGES
    d0, d1 = delta(dev0.stats(), b0), delta(dev1.stats(), b1)
    assert d0["pages_to_peer"] == d1["pages_from_peer"] == rounds * NPAGES
    assert d1["pages_to_peer"] == d0["pages_from_peer"] == rounds * NPAGES
    assert d0["bytes_in"] == (rounds + 1) * SIZE
    assert d0["bytes_out"] == (rounds + 1) * SIZE
    assert d0["cpu_faults"] == d1["cpu_faults"] == 0
    assert m.read() == data


def test_no_peer_flag_leaves_pages_on_the_other_instance(dev0, dev1, filled):
    m, data = filled
    half = SIZE // 2
    assert dev1.to_device(m.addr, half).moved == half // PAGE
    r = dev0.to_device(m.addr, m.size, dpmem.MIGRATE_NO_PEER)
    assert (r.moved, r.moved_peer) == (half // PAGE, 0)
    c = counts(dev0, m)
    assert (c[RES_DEVICE], c[RES_PEER]) == (half // PAGE, half // PAGE)
    assert m.read() == data


def test_cpu_access_to_peer_pages_is_served_by_their_owner(dev0, dev1, filled):
    m, data = filled
    b0, b1 = dev0.stats(), dev1.stats()
    assert dev1.to_device(m.addr, m.size).moved == NPAGES
    assert m.read() == data
    assert delta(dev1.stats(), b1)["cpu_faults"] == NPAGES
    assert delta(dev0.stats(), b0)["cpu_faults"] == 0


# --- device full, eviction, unload ----------------------------------------

def test_device_full_moves_what_fits_and_says_so(reload_module, maps):
    reload_module(mem_mib=4)  # 1024 device pages
    cap = 4 * MIB // PAGE
    m = maps(6 * MIB)
    data = pattern(m.size, 5)
    m.write(data)
    with Dpmem(0) as d:
        before = d.stats()
        r = d.to_device(m.addr, m.size)
        assert r.moved == cap and r.out_flags & dpmem.OUT_FULL and r.failed > 0
        rmap, c = states(d, m)
        assert c == [0, m.pages - cap, cap, 0, 0]
        assert d.stats()["pages_resident"] == cap
        assert delta(d.stats(), before)["alloc_failures"] >= 1
        # Full: another range moves nothing, and says so again.
        other = maps(MIB)
        other.write(b"o" * MIB)
        r = d.to_device(other.addr, other.size)
        assert (r.moved, r.out_flags) == (0, dpmem.OUT_FULL)
        assert other.read() == b"o" * MIB
        # The rest fits on the other instance.
        with Dpmem(1) as d1:
            r = d1.to_device(m.addr, m.size, dpmem.MIGRATE_NO_PEER)
            assert (r.moved, r.out_flags) == (m.pages - cap, 0)
            assert d1.to_system(m.addr, m.size).moved == m.pages - cap
        assert d.to_system(m.addr, m.size).moved == cap
        assert m.read() == data
    assert "device memory full" in dmesg()


def test_evict_moves_every_page_back_whoever_maps_it(dev0, filled):
    m, data = filled
    before = dev0.stats()
    assert dev0.to_device(m.addr, m.size).moved == NPAGES
    # Also pages of a forked child that still maps them.
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(w)
            os.read(r, 1)  # wait until the parent has evicted
            code = 0 if m.read() == data else 2
        finally:
            os._exit(code)
    os.close(r)
    evicted, remaining = dev0.evict()
    assert (evicted, remaining) == (NPAGES, 0)
    os.write(w, b"go")
    os.close(w)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert counts(dev0, m) == only(NPAGES, RES_SYSTEM)
    d = delta(dev0.stats(), before)
    assert d["evictions"] == NPAGES and d["cpu_faults"] == 0
    assert m.read() == data


def test_evict_needs_cap_sys_admin(dev0):
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            with Dpmem(0) as d:
                os.setuid(65534)  # drops every capability
                err = dpmem.ioctl_errno(d.fd, dpmem.IOC_EVICT, dpmem.Evict())
                code = 0 if err == errno.EPERM else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "EVICT without CAP_SYS_ADMIN was not EPERM"


def test_unload_with_pages_resident_moves_them_back(reload_module, maps):
    m = maps(SIZE)
    data = pattern(SIZE, 9)
    m.write(data)
    with Dpmem(0) as d0, Dpmem(1) as d1:
        half = SIZE // 2
        assert d0.to_device(m.addr, half).moved == half // PAGE
        assert d1.to_device(m.addr + half, half).moved == half // PAGE
    reload_module()
    log = dmesg()
    assert f"dpmem0: moved {half // PAGE} pages back to system memory before removal" in log
    assert f"dpmem1: moved {half // PAGE} pages back to system memory before removal" in log
    with Dpmem(0) as d0:
        # Back in system memory before any CPU access, counters fresh.
        assert counts(d0, m) == only(NPAGES, RES_SYSTEM)
        assert d0.stats()["cpu_faults"] == 0
    assert m.read() == data


# --- concurrency ------------------------------------------------------------

def test_concurrent_migrations_faults_and_evictions_lose_no_write():
    r = subprocess.run([dpmem.DPMEM_STRESS, "-s", "4", "-i", "1000", "-w", "2", "-e"],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"moved in (\d+), out (\d+), evicted (\d+): ok", r.stdout)
    assert m, r.stdout
    # Every mechanism was really exercised.
    assert all(int(x) > 0 for x in m.groups()), r.stdout


# --- garbage arguments ------------------------------------------------------

KERNEL_ADDR = 0xffff888000000000


def migrate_arg(addr, length, **kw):
    return dpmem.Migrate(addr=addr, length=length, **kw)


@pytest.mark.parametrize("cmd", [dpmem.IOC_INFO, dpmem.IOC_MIGRATE_TO_DEVICE,
                                 dpmem.IOC_MIGRATE_TO_SYSTEM, dpmem.IOC_RESIDENCY,
                                 dpmem.IOC_STATS, dpmem.IOC_EVICT],
                         ids=["info", "to_device", "to_system", "residency", "stats", "evict"])
@pytest.mark.parametrize("ptr", [0, 0x10, KERNEL_ADDR], ids=["null", "low", "kernel"])
def test_bad_argument_pointer_is_efault(dev0, cmd, ptr):
    assert dpmem.ioctl_errno(dev0.fd, cmd, ptr) == errno.EFAULT


@pytest.mark.parametrize("cmd", [dpmem.IOC_MIGRATE_TO_DEVICE, dpmem.IOC_MIGRATE_TO_SYSTEM,
                                 dpmem.IOC_RESIDENCY], ids=["to_device", "to_system", "residency"])
@pytest.mark.parametrize("case,expected", [
    ("unaligned_addr", errno.EINVAL),
    ("unaligned_length", errno.EINVAL),
    ("zero_length", errno.EINVAL),
    ("wrapping_length", errno.EINVAL),
    ("beyond_user_space", errno.EFAULT),
    ("kernel_address", errno.EFAULT),
    ("unmapped", errno.EFAULT),
    ("partly_unmapped", errno.EFAULT),
])
def test_bad_ranges_fail_cleanly(dev0, maps, cmd, case, expected):
    m = maps(5 * PAGE)
    m.shrink(4 * PAGE)  # the fifth page is now a hole
    hole_addr = m.addr + 4 * PAGE
    m.write(b"r" * m.size)
    addr, length = {
        "unaligned_addr": (m.addr + 1, PAGE),
        "unaligned_length": (m.addr, PAGE + 1),
        "zero_length": (m.addr, 0),
        "wrapping_length": (m.addr, (1 << 64) - PAGE),
        "beyond_user_space": (m.addr, 1 << 62),
        "kernel_address": (KERNEL_ADDR, PAGE),
        "unmapped": (hole_addr, PAGE),
        "partly_unmapped": (m.addr + m.size - PAGE, 2 * PAGE),
    }[case]
    if cmd == dpmem.IOC_RESIDENCY:
        arg = dpmem.Residency(addr=addr, length=length)
    else:
        arg = migrate_arg(addr, length)
    assert dpmem.ioctl_errno(dev0.fd, cmd, arg) == expected
    # Nothing moved for a range that failed the check.
    assert counts(dev0, m) == only(4, RES_SYSTEM)
    assert m.read() == b"r" * m.size


@pytest.mark.parametrize("cmd,arg", [
    (dpmem.IOC_MIGRATE_TO_DEVICE, dict(flags=1 << 1)),
    (dpmem.IOC_MIGRATE_TO_DEVICE, dict(flags=1 << 31)),
    (dpmem.IOC_MIGRATE_TO_SYSTEM, dict(flags=dpmem.MIGRATE_NO_PEER)),
    (dpmem.IOC_MIGRATE_TO_DEVICE, dict(reserved=(dpmem.u64 * 4)(0, 0, 0, 1))),
    (dpmem.IOC_MIGRATE_TO_SYSTEM, dict(reserved=(dpmem.u64 * 4)(1))),
    (dpmem.IOC_RESIDENCY, dict(flags=1)),
    (dpmem.IOC_RESIDENCY, dict(reserved0=1)),
    (dpmem.IOC_RESIDENCY, dict(reserved=(dpmem.u64 * 3)(0, 1))),
    (dpmem.IOC_EVICT, dict(flags=1)),
    (dpmem.IOC_EVICT, dict(reserved0=1)),
    (dpmem.IOC_EVICT, dict(reserved=(dpmem.u64 * 4)(0, 0, 1))),
], ids=["to_device_flag1", "to_device_flag31", "to_system_no_peer",
        "to_device_reserved", "to_system_reserved", "residency_flags",
        "residency_reserved0", "residency_reserved", "evict_flags", "evict_reserved0",
        "evict_reserved"])
def test_unknown_flags_and_reserved_fields_are_einval(dev0, maps, cmd, arg):
    m = maps(PAGE)
    m.write(b"z" * PAGE)
    if cmd == dpmem.IOC_EVICT:
        a = dpmem.Evict(**arg)
    elif cmd == dpmem.IOC_RESIDENCY:
        a = dpmem.Residency(addr=m.addr, length=PAGE, **arg)
    else:
        a = migrate_arg(m.addr, PAGE, **arg)
    assert dpmem.ioctl_errno(dev0.fd, cmd, a) == errno.EINVAL
    assert counts(dev0, m) == only(1, RES_SYSTEM)


@pytest.mark.parametrize("cmd", [
    dpmem._ioc(3, 0x06, dpmem.Migrate),           # unknown number
    dpmem._ioc(3, 0xff, dpmem.Info),
    dpmem._ioc(3, 0x01, dpmem.Info),              # known number, wrong size
    dpmem._ioc(2, 0x04, dpmem.Info),              # STATS with INFO's size
    dpmem._ioc(1, 0x01, dpmem.Migrate),           # wrong direction
    (0x54 << 8) | 0x01,                           # another driver's command (TCGETS-like)
], ids=["nr6", "nr255", "to_device_wrong_size", "stats_wrong_size", "to_device_write_only",
        "foreign"])
def test_unknown_commands_are_enotty(dev0, cmd):
    buf = bytearray(256)
    try:
        fcntl.ioctl(dev0.fd, cmd, buf, True)
    except OSError as e:
        assert e.errno == errno.ENOTTY
    else:
        pytest.fail("unknown command accepted")


def test_residency_map_pointer_is_checked(dev0, maps):
    m = maps(4 * PAGE)
    m.write(b"q" * m.size)
    ro = maps(PAGE, prot=dpmem.PROT_READ)
    for bad in (KERNEL_ADDR, 0x10, ro.addr):
        arg = dpmem.Residency(addr=m.addr, length=m.size, map=bad)
        assert dpmem.ioctl_errno(dev0.fd, dpmem.IOC_RESIDENCY, arg) == errno.EFAULT
    # map = 0: counts only.
    arg = dpmem.raw_ioctl(dev0.fd, dpmem.IOC_RESIDENCY,
                          dpmem.Residency(addr=m.addr, length=m.size))
    assert list(arg.count) == only(4, RES_SYSTEM)


def test_outputs_are_written_and_reserved_outputs_zero(dev0, maps):
    m = maps(4 * PAGE)
    m.write(b"w" * m.size)
    arg = migrate_arg(m.addr, m.size, out_flags=7, moved=99, moved_peer=99, failed=99)
    out = dpmem.raw_ioctl(dev0.fd, dpmem.IOC_MIGRATE_TO_DEVICE, arg)
    assert (out.moved, out.moved_peer, out.failed, out.out_flags) == (4, 0, 0, 0)
    assert list(out.reserved) == [0] * 4
    out = dpmem.raw_ioctl(dev0.fd, dpmem.IOC_MIGRATE_TO_SYSTEM, migrate_arg(m.addr, m.size))
    assert out.moved == 4
    st = dpmem.raw_ioctl(dev0.fd, dpmem.IOC_STATS, dpmem.Stats())
    assert list(st.reserved) == [0] * 5


def test_huge_mapped_range_is_handled_without_trouble(dev0, maps):
    # 1 GiB of address space, four pages touched: untouched pages move as
    # zero pages, so use residency (which does not allocate) on all of it.
    m = maps(1 << 30, flags=dpmem.MAP_PRIVATE | dpmem.MAP_ANONYMOUS | 0x4000)  # NORESERVE
    for p in (0, 1000, 100000, m.pages - 1):
        m.write(b"h", p * PAGE)
    _, c = states(dev0, m)
    assert c == [m.pages - 4, 4, 0, 0, 0]


# --- the CLI ---------------------------------------------------------------

def run_ctl(*args):
    return subprocess.run([dpmem.DPMEMCTL, *args], capture_output=True, text=True)


def test_dpmemctl_runs_a_script_on_its_buffer():
    r = run_ctl("-s", "4M", "-c", "1M", "fill", "migrate", "residency", "migrate:1",
                "residency:1", "back:1", "read", "verify", "stats")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "migrate dpmem0: moved=1024 peer=0 failed=0 " in out
    assert "residency dpmem0: none=0 system=0 device=1024 peer=0 unknown=0" in out
    assert "migrate dpmem1: moved=1024 peer=1024 failed=0 " in out
    assert "residency dpmem1: none=0 system=0 device=1024 peer=0 unknown=0" in out
    assert "back dpmem1: moved=1024 " in out
    assert "verify: 4194304 bytes ok" in out
    assert re.search(r"stats dpmem0: pages_resident=0 capacity_pages=65536 ", out)


def test_dpmemctl_info_and_usage_errors():
    r = run_ctl("-d", "1", "info")
    assert r.returncode == 0
    assert r.stdout.strip() == "dpmem1: version=1 devices=2 page_size=4096 capacity=268435456"
    assert run_ctl("bogus").returncode == 2
    assert run_ctl("-s", "12345", "fill").returncode == 2
    assert run_ctl("migrate:99").returncode == 2
    r = run_ctl("stats:7")
    assert r.returncode == 1 and "/dev/dpmem7" in r.stderr
