"""dpmem from Python: libdpmem through ctypes, raw ioctls, and raw mappings.

The structures mirror kernel/include/uapi/linux/softodp_dpmem.h. Their sizes
are part of the ioctl numbers, so a mismatch shows up as ENOTTY.
"""
import ctypes
import errno
import fcntl
import os
import subprocess
import time

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LIB_PATH = os.path.join(TOP, "build", "lib", "libdpmem.so")
DPMEMCTL = os.path.join(TOP, "build", "bin", "dpmemctl")
DPMEM_STRESS = os.path.join(TOP, "build", "bin", "dpmem-stress")
KO = os.path.join(os.environ["SOFTODP_KMOD"], "dpmem", "dpmem.ko")

PAGE = os.sysconf("SC_PAGE_SIZE")

RES_NONE, RES_SYSTEM, RES_DEVICE, RES_PEER, RES_UNKNOWN = range(5)
MIGRATE_NO_PEER = 1 << 0
OUT_FULL = 1 << 0

u32, u64 = ctypes.c_uint32, ctypes.c_uint64


class Info(ctypes.Structure):
    _fields_ = [("version", u32), ("index", u32), ("nr_devices", u32),
                ("page_size", u32), ("capacity", u64), ("reserved", u64 * 5)]


class Migrate(ctypes.Structure):
    _fields_ = [("addr", u64), ("length", u64), ("flags", u32), ("out_flags", u32),
                ("moved", u64), ("moved_peer", u64), ("failed", u64),
                ("reserved", u64 * 4)]


class Residency(ctypes.Structure):
    _fields_ = [("addr", u64), ("length", u64), ("map", u64), ("flags", u32),
                ("reserved0", u32), ("count", u64 * 5), ("reserved", u64 * 3)]


class Stats(ctypes.Structure):
    _fields_ = [("pages_resident", u64), ("capacity_pages", u64), ("bytes_in", u64),
                ("bytes_out", u64), ("cpu_faults", u64), ("evictions", u64),
                ("alloc_failures", u64), ("pages_from_peer", u64),
                ("pages_to_peer", u64), ("importer_maps", u64),
                ("importer_refusals", u64), ("reserved", u64 * 5)]


class Evict(ctypes.Structure):
    _fields_ = [("flags", u32), ("reserved0", u32), ("evicted", u64),
                ("remaining", u64), ("reserved", u64 * 4)]


class Result(ctypes.Structure):
    """libdpmem's struct dpmem_result."""
    _fields_ = [("moved", u64), ("moved_peer", u64), ("failed", u64),
                ("out_flags", u32), ("pad", u32)]


def _ioc(direction, nr, struct):
    return (direction << 30) | (ctypes.sizeof(struct) << 16) | (0xDE << 8) | nr


_W, _R = 1, 2
IOC_INFO = _ioc(_R, 0x00, Info)
IOC_MIGRATE_TO_DEVICE = _ioc(_R | _W, 0x01, Migrate)
IOC_MIGRATE_TO_SYSTEM = _ioc(_R | _W, 0x02, Migrate)
IOC_RESIDENCY = _ioc(_R | _W, 0x03, Residency)
IOC_STATS = _ioc(_R, 0x04, Stats)
IOC_EVICT = _ioc(_R | _W, 0x05, Evict)

_lib = ctypes.CDLL(LIB_PATH, use_errno=True)
_lib.dpmem_open.restype = ctypes.c_void_p
_lib.dpmem_open.argtypes = [ctypes.c_uint]
_lib.dpmem_close.argtypes = [ctypes.c_void_p]
_lib.dpmem_fd.argtypes = [ctypes.c_void_p]
_lib.dpmem_info.restype = ctypes.POINTER(Info)
_lib.dpmem_info.argtypes = [ctypes.c_void_p]
_lib.dpmem_to_device.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_uint, ctypes.POINTER(Result)]
_lib.dpmem_to_system.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.POINTER(Result)]
_lib.dpmem_residency.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t,
                                 ctypes.c_void_p, ctypes.POINTER(u64 * 5)]
_lib.dpmem_get_stats.argtypes = [ctypes.c_void_p, ctypes.POINTER(Stats)]
_lib.dpmem_evict.argtypes = [ctypes.c_void_p, ctypes.POINTER(u64), ctypes.POINTER(u64)]
_lib.dpmem_residency_name.restype = ctypes.c_char_p

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                       ctypes.c_int, ctypes.c_long]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.ioctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p]
_libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_libc.mremap.restype = ctypes.c_void_p
_libc.mremap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int,
                         ctypes.c_void_p]
MAP_FAILED = ctypes.c_void_p(-1).value

PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MADV_DONTNEED, MADV_HUGEPAGE = 4, 14
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20


def _check(ret):
    if ret < 0:
        raise OSError(-ret, os.strerror(-ret))
    return ret


class Dpmem:
    """One open /dev/dpmemN, through libdpmem."""

    def __init__(self, index):
        self.index = index
        self.handle = _lib.dpmem_open(index)
        if not self.handle:
            e = ctypes.get_errno()
            raise OSError(e, f"/dev/dpmem{index}: {os.strerror(e)}")

    def close(self):
        if self.handle:
            _lib.dpmem_close(self.handle)
            self.handle = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def fd(self):
        return _lib.dpmem_fd(self.handle)

    def info(self):
        return _lib.dpmem_info(self.handle).contents

    def to_device(self, addr, length, flags=0):
        r = Result()
        _check(_lib.dpmem_to_device(self.handle, addr, length, flags, ctypes.byref(r)))
        return r

    def to_system(self, addr, length):
        r = Result()
        _check(_lib.dpmem_to_system(self.handle, addr, length, ctypes.byref(r)))
        return r

    def residency(self, addr, length):
        """(map bytes, list of counts per state)."""
        m = ctypes.create_string_buffer(length // PAGE)
        count = (u64 * 5)()
        _check(_lib.dpmem_residency(self.handle, addr, length, m, ctypes.byref(count)))
        return m.raw, list(count)

    def stats(self):
        st = Stats()
        _check(_lib.dpmem_get_stats(self.handle, ctypes.byref(st)))
        return {name: getattr(st, name) for name, _ in Stats._fields_ if name != "reserved"}

    def evict(self):
        evicted, remaining = u64(), u64()
        _check(_lib.dpmem_evict(self.handle, ctypes.byref(evicted), ctypes.byref(remaining)))
        return evicted.value, remaining.value


def residency_name(state):
    return _lib.dpmem_residency_name(state).decode()


class Mapping:
    """A raw mmap() region, accessed through its address."""

    def __init__(self, size, prot=PROT_READ | PROT_WRITE, flags=MAP_PRIVATE | MAP_ANONYMOUS,
                 fd=-1, offset=0, addr=None):
        self.size = size
        a = _libc.mmap(addr, size, prot, flags, fd, offset)
        if a in (None, MAP_FAILED):
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        self.addr = a

    @property
    def pages(self):
        return self.size // PAGE

    def write(self, data, offset=0):
        assert offset + len(data) <= self.size
        ctypes.memmove(self.addr + offset, data, len(data))

    def read(self, offset=0, length=None):
        length = self.size - offset if length is None else length
        assert offset + length <= self.size
        return ctypes.string_at(self.addr + offset, length)

    def shrink(self, size):
        """Unmap everything past the first size bytes (leaves a hole there)."""
        if _libc.munmap(self.addr + size, self.size - size):
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        self.size = size

    def madvise(self, advice, offset=0, length=None):
        length = self.size - offset if length is None else length
        if _libc.madvise(self.addr + offset, length, advice):
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def move_to(self, new_addr):
        """mremap() the whole mapping to new_addr (which it replaces)."""
        a = _libc.mremap(self.addr, self.size, self.size, MREMAP_MAYMOVE | MREMAP_FIXED,
                         new_addr)
        if a in (None, MAP_FAILED):
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))
        self.addr = a

    def mprotect(self, prot):
        if _libc.mprotect(self.addr, self.size, prot):
            e = ctypes.get_errno()
            raise OSError(e, os.strerror(e))

    def unmap(self):
        if self.addr is not None:
            if _libc.munmap(self.addr, self.size):
                e = ctypes.get_errno()
                raise OSError(e, os.strerror(e))
            self.addr = None


def raw_ioctl(fd, cmd, arg):
    """ioctl() with a ctypes struct (copied in and out) or a raw pointer value."""
    if isinstance(arg, ctypes.Structure):
        buf = bytearray(bytes(arg))
        fcntl.ioctl(fd, cmd, buf, True)
        return type(arg).from_buffer_copy(buf)
    if _libc.ioctl(fd, cmd, arg) < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return 0


def ioctl_errno(fd, cmd, arg):
    """The errno an ioctl fails with, or 0 if it succeeds."""
    try:
        raw_ioctl(fd, cmd, arg)
    except OSError as e:
        return e.errno
    return 0


def nr_devices():
    with open("/sys/module/dpmem/parameters/nr_devices") as f:
        return int(f.read())


def all_stats():
    out = []
    for i in range(nr_devices()):
        with Dpmem(i) as d:
            out.append(d.stats())
    return out


def wait_for(cond, timeout=10.0, step=0.01):
    """Poll cond() until it is true or timeout seconds pass; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def load_module(**params):
    args = [f"{k}={v}" for k, v in params.items()]
    subprocess.run(["insmod", KO] + args, check=True, capture_output=True, text=True)


def unload_module():
    r = subprocess.run(["rmmod", "dpmem"], capture_output=True, text=True)
    if r.returncode:
        raise OSError(errno.EBUSY, "rmmod dpmem: " + r.stderr.strip())


def module_loaded():
    return os.path.exists("/sys/module/dpmem")


@pytest.fixture(autouse=True)
def no_pages_left_behind():
    """Whatever a test did, no dpmem instance holds a page afterwards.
    Test modules that work with dpmem import it (autouse in that module)."""
    yield
    if module_loaded():
        left = [s["pages_resident"] for s in all_stats()]
        assert left == [0] * len(left), f"pages left on the devices: {left}"
