"""The rig seen from the host: vm-run's contract and the kernel config."""
import os
import re
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_RUN = os.path.join(TOP, "scripts", "vm-run")


def _paths(var):
    out = subprocess.check_output(
        ["bash", "-c", f". {TOP}/scripts/lib.sh && kernel_paths && echo ${var}"], text=True)
    return out.strip()


def kernel_dir():
    return _paths("KDIR")


def kmod_dir():
    return _paths("KMOD_BUILD")


def vm_run(cmd, **env):
    e = dict(os.environ, **env)
    return subprocess.run([VM_RUN, cmd], capture_output=True, text=True, env=e, timeout=900)


FLAVOUR = os.environ.get("SOFTODP_FLAVOUR", "debug")

# What each flavour's kernel must have on top of the common options.
FLAVOUR_OPTIONS = {
    "debug": ["PROVE_LOCKING", "DEBUG_VM", "DEBUG_LIST", "DEBUG_ATOMIC_SLEEP"],
    "release": [],
    "kasan": ["PROVE_LOCKING", "DEBUG_VM", "DEBUG_LIST", "DEBUG_ATOMIC_SLEEP",
              "KASAN", "KASAN_GENERIC", "KASAN_VMALLOC", "UBSAN", "UBSAN_BOUNDS", "KFENCE",
              "DEBUG_KMEMLEAK", "DEBUG_OBJECTS", "DEBUG_PAGEALLOC",
              "DEBUG_PAGEALLOC_ENABLE_DEFAULT"],
}

# The deliberate reports each flavour's kernel can make, with the line the
# kernel logs for it (kernel/selftest/softodp_splat.c).
FLAVOUR_REPORTS = {
    "debug": {"warn": "softodp_splat: deliberate warning"},
    "release": {"warn": "softodp_splat: deliberate warning"},
    "kasan": {"warn": "softodp_splat: deliberate warning",
              "kasan": "BUG: KASAN: slab-use-after-free",
              "ubsan": "UBSAN: array-index-out-of-bounds",
              "kfence": "BUG: KFENCE: out-of-bounds read",
              "kmemleak": "unreferenced object"},
}


def test_guest_config_has_every_required_option():
    with open(os.path.join(kernel_dir(), "obj", ".config")) as f:
        config = f.read()
    for sym in ["ZONE_DEVICE", "DEVICE_PRIVATE", "HMM_MIRROR", "MMU_NOTIFIER",
                "MIGRATION", "TRANSPARENT_HUGEPAGE", "INFINIBAND",
                "INFINIBAND_USER_ACCESS", "INFINIBAND_ON_DEMAND_PAGING", "NET_9P_VIRTIO",
                "9P_FS", "VIRTIO_PCI", "VETH", "MAGIC_SYSRQ",
                # the mm events ODP must survive, and fault injection
                "SWAP", "MEMCG", "NUMA", "COMPACTION", "KSM", "VIRTIO_BLK", "EXT2_FS",
                "FAILSLAB", "FAIL_PAGE_ALLOC", "FAULT_INJECTION_DEBUG_FS",
                ] + FLAVOUR_OPTIONS[FLAVOUR]:
        assert re.search(rf"^CONFIG_{sym}=y$", config, re.M), sym
    if FLAVOUR == "release":
        # benchmarks only: none of the debugging that costs time
        for sym in ["PROVE_LOCKING", "DEBUG_VM", "DEBUG_LIST", "KASAN"]:
            assert not re.search(rf"^CONFIG_{sym}=y$", config, re.M), sym
    assert re.search(r"^CONFIG_TEST_HMM=m$", config, re.M)
    assert not re.search(r"^CONFIG_RDMA_RXE=", config, re.M), "in-tree rxe must be off"


@pytest.fixture(scope="module")
def plain_run():
    """One boot for the checks that need only a command's output (a kasan
    guest takes about a minute to boot): the guest's view of the host
    paths, the scratch dir, swap, NUMA, cgroups and the disk, then exit 7."""
    return vm_run(f"echo hello-from-guest; uname -r; "
                  f"test -f {TOP}/Makefile && echo host-root-visible; "
                  f"touch $SOFTODP_SCRATCH/w && echo scratch-writable; "
                  f"touch {TOP}/should-not-exist 2>/dev/null || echo host-root-read-only; "
                  "cat /proc/swaps; ls -d /sys/devices/system/node/node*; "
                  "cat /sys/fs/cgroup/cgroup.subtree_control; "
                  "grep -w ext2 /proc/mounts; echo flavour=$SOFTODP_FLAVOUR; exit 7")


def test_vm_run_returns_the_commands_status_and_output(plain_run):
    assert plain_run.returncode == 7, plain_run.stderr
    assert "hello-from-guest" in plain_run.stdout
    assert "-softodp" in plain_run.stdout


def test_vm_run_sees_host_paths_and_a_writable_scratch_dir(plain_run):
    for line in ("host-root-visible", "scratch-writable", "host-root-read-only"):
        assert line in plain_run.stdout, plain_run.stdout + plain_run.stderr
    assert not os.path.exists(os.path.join(TOP, "should-not-exist"))


def test_guest_has_swap_numa_memcg_and_a_disk(plain_run):
    out = plain_run.stdout
    assert "/dev/vda" in out, "no swap device"
    assert "node0" in out and "node1" in out, "not two NUMA nodes"
    assert "memory" in out, "no memory controller for cgroups"
    assert "/run/softodp-disk ext2" in out
    assert f"flavour={FLAVOUR}" in out


def test_vm_run_fails_on_every_kind_of_kernel_bug_report():
    """One boot: each kind of deliberate report this flavour can make (a
    module load apiece, kmemleak's last so its leak stays), and every one of
    them shows in the failed run's splat list."""
    ko = os.path.join(kmod_dir(), "selftest", "softodp_splat.ko")
    kinds = sorted(FLAVOUR_REPORTS[FLAVOUR], key=lambda k: k == "kmemleak")
    cmd = " && ".join(f"insmod {ko} what={k} && rmmod softodp_splat" for k in kinds)
    if "kmemleak" in kinds:
        cmd = cmd.rsplit(" && rmmod softodp_splat", 1)[0]
    r = vm_run(cmd)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "kernel splat detected" in r.stderr
    for kind in kinds:
        assert FLAVOUR_REPORTS[FLAVOUR][kind] in r.stderr, (kind, r.stderr)


def test_vm_run_fails_when_the_guest_kernel_crashes():
    r = vm_run("echo c > /proc/sysrq-trigger")
    assert r.returncode == 125
    assert "guest did not finish" in r.stderr
