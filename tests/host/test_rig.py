"""The rig seen from the host: vm-run's contract and the kernel config."""
import os
import re
import subprocess

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_RUN = os.path.join(TOP, "scripts", "vm-run")


def kernel_dir():
    out = subprocess.check_output(
        ["bash", "-c", f". {TOP}/scripts/lib.sh && kernel_paths && echo $KDIR"], text=True)
    return out.strip()


def vm_run(cmd, **env):
    e = dict(os.environ, **env)
    return subprocess.run([VM_RUN, cmd], capture_output=True, text=True, env=e, timeout=900)


def test_guest_config_has_every_required_option():
    with open(os.path.join(kernel_dir(), "obj", ".config")) as f:
        config = f.read()
    for sym in ["ZONE_DEVICE", "DEVICE_PRIVATE", "HMM_MIRROR", "MMU_NOTIFIER",
                "MIGRATION", "TRANSPARENT_HUGEPAGE", "INFINIBAND",
                "INFINIBAND_USER_ACCESS", "INFINIBAND_ON_DEMAND_PAGING", "NET_9P_VIRTIO",
                "9P_FS", "VIRTIO_PCI", "VETH", "MAGIC_SYSRQ", "PROVE_LOCKING",
                "DEBUG_VM", "DEBUG_LIST", "DEBUG_ATOMIC_SLEEP"]:
        assert re.search(rf"^CONFIG_{sym}=y$", config, re.M), sym
    assert re.search(r"^CONFIG_TEST_HMM=m$", config, re.M)
    assert not re.search(r"^CONFIG_RDMA_RXE=", config, re.M), "in-tree rxe must be off"


def test_vm_run_returns_the_commands_status_and_output():
    r = vm_run("echo hello-from-guest; uname -r; exit 7")
    assert r.returncode == 7, r.stderr
    assert "hello-from-guest" in r.stdout
    assert "-softodp" in r.stdout


def test_vm_run_sees_host_paths_and_a_writable_scratch_dir():
    r = vm_run(f"test -f {TOP}/Makefile && touch $SOFTODP_SCRATCH/w && "
               f"! touch {TOP}/should-not-exist 2>/dev/null")
    assert r.returncode == 0, r.stdout + r.stderr
    assert not os.path.exists(os.path.join(TOP, "should-not-exist"))


def test_vm_run_fails_when_the_kernel_warns():
    ko = os.path.join(TOP, "build", "kmod", "selftest", "softodp_splat.ko")
    r = vm_run(f"insmod {ko} && rmmod softodp_splat")
    assert r.returncode != 0
    assert "kernel splat detected" in r.stderr
    assert "softodp_splat: deliberate warning" in r.stderr


def test_vm_run_fails_when_the_guest_kernel_crashes():
    r = vm_run("echo c > /proc/sysrq-trigger")
    assert r.returncode == 125
    assert "guest did not finish" in r.stderr
