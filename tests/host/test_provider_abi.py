"""softrxe's build (rdma-core-provider/): the private-ABI check and install.

Host-side, no VM: each test builds a copy of rdma-core-provider/ in a
temporary tree, some with a deliberately wrong ABI header or against a
fake libibverbs, and checks that the ABI check stops the build.
"""
import os
import re
import shutil
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SRC = os.path.join(TOP, "rdma-core-provider")
HEADER = "ibverbs_private.h"


@pytest.fixture
def tree(tmp_path):
    """A private copy of the provider sources: <tmp>/rdma-core-provider,
    building into <tmp>/build/provider."""
    shutil.copytree(SRC, tmp_path / "rdma-core-provider",
                    ignore=shutil.ignore_patterns("*.o", "__pycache__"))
    return tmp_path


def make(tree, *args):
    return subprocess.run(["make", "-C", str(tree / "rdma-core-provider"), *args],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600)


def built_sos(tree):
    out = tree / "build" / "provider"
    return sorted(p.name for p in out.glob("libsoftrxe-rdmav*.so")) if out.exists() else []


def edit_header(tree, old, new):
    path = tree / "rdma-core-provider" / HEADER
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_build_passes_the_abi_check(tree):
    r = make(tree)
    assert r.returncode == 0, r.stdout
    assert re.search(r"softrxe ABI check: OK: .*libibverbs\.so\.1, IBVERBS_PRIVATE_34",
                     r.stdout), r.stdout
    assert built_sos(tree) == ["libsoftrxe-rdmav34.so"]
    so = tree / "build" / "provider" / "libsoftrxe-rdmav34.so"
    syms = subprocess.check_output(["readelf", "--dyn-syms", "-W", str(so)], text=True)
    # bound to the versioned private entry points, and exporting nothing
    assert "verbs_register_driver_34@IBVERBS_PRIVATE_34" in syms
    assert "ibv_cmd_advise_mr@IBVERBS_PRIVATE_34" in syms
    defined = [ln.split()[-1] for ln in syms.splitlines()
               if re.match(r"\s*\d+:", ln) and " UND " not in ln and "GLOBAL" in ln]
    assert defined == [], defined
    dyn = subprocess.check_output(["readelf", "-d", str(so)], text=True)
    assert "Shared library: [libibverbs.so.1]" in dyn


def test_header_with_another_private_abi_fails_the_check(tree):
    """The deliberately wrong header: it claims private ABI 33."""
    edit_header(tree, "#define IBVERBS_PABI_VERSION 34", "#define IBVERBS_PABI_VERSION 33")
    r = make(tree)
    assert r.returncode != 0, r.stdout
    assert "softrxe ABI check: FAILED: private ABI mismatch" in r.stdout, r.stdout
    assert "implements IBVERBS_PRIVATE_34" in r.stdout, r.stdout
    assert "declares IBVERBS_PRIVATE_33" in r.stdout, r.stdout
    assert built_sos(tree) == [], "a provider was linked despite the failed check"


def test_header_declaring_a_missing_private_function_fails_the_check(tree):
    """A header that routes a call to a private function libibverbs lacks."""
    edit_header(tree, "#define IBVERBS_PABI_VERSION 34",
                "#define IBVERBS_PABI_VERSION 34\n"
                "#define ibv_cmd_advise_mr ibv_cmd_advise_mr_v2")
    r = make(tree)
    assert r.returncode != 0, r.stdout
    assert re.search(r"FAILED: .*does not export: ibv_cmd_advise_mr_v2\.", r.stdout), r.stdout
    assert built_sos(tree) == []


def test_header_without_an_abi_number_fails_the_check(tree):
    edit_header(tree, "#define IBVERBS_PABI_VERSION 34", "#define IBVERBS_PABI_VERSION_X 34")
    r = make(tree)
    assert r.returncode != 0, r.stdout
    assert "FAILED: ibverbs_private.h gives no numeric IBVERBS_PABI_VERSION" in r.stdout
    assert built_sos(tree) == []


def test_libibverbs_of_another_private_abi_fails_the_check(tree, tmp_path):
    """The right header against a libibverbs that implements private ABI 35
    (a stand-in library exporting the same names under IBVERBS_PRIVATE_35)."""
    r = make(tree, "abi-check")          # objects (and a passing check) first
    assert r.returncode == 0, r.stdout
    objs = sorted((tree / "build" / "provider" / "obj").glob("*.o"))
    undef = subprocess.check_output(["nm", "-u", "--format=posix", *map(str, objs)],
                                    text=True).split("\n")
    names = sorted({ln.split()[0] for ln in undef
                    if re.match(r"(ibv_|verbs_|_verbs_)", ln)})
    names = [n.replace("verbs_register_driver_34", "verbs_register_driver_35") for n in names]
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "fake.c").write_text("".join(f"void {n}(void) {{}}\n" for n in names))
    public = [n for n in names if not re.match(r"(ibv_cmd_|verbs_|_verbs_)", n)]
    private = [n for n in names if n not in public]
    (fake / "fake.map").write_text(
        ("IBVERBS_1.1 { global: " + "".join(f"{n}; " for n in public) + "};\n"
         if public else "")
        + "IBVERBS_PRIVATE_35 { global: " + "".join(f"{n}; " for n in private)
        + "local: *; };\n")
    lib = fake / "libibverbs.so.1"
    subprocess.check_call(["cc", "-shared", "-fPIC", "-o", str(lib), str(fake / "fake.c"),
                           "-Wl,-soname,libibverbs.so.1",
                           f"-Wl,--version-script={fake / 'fake.map'}"])
    r = make(tree, f"LIBIBVERBS={lib}")
    assert r.returncode != 0, r.stdout
    assert f"FAILED: private ABI mismatch: {lib} implements IBVERBS_PRIVATE_35" in r.stdout
    assert built_sos(tree) == []


def test_make_install_places_provider_and_driver_file(tree):
    dest = tree / "dest"
    r = make(tree, f"DESTDIR={dest}", "install")
    assert r.returncode == 0, r.stdout
    libdir = "/usr/lib/x86_64-linux-gnu/libibverbs"
    so = dest / libdir.lstrip("/") / "libsoftrxe-rdmav34.so"
    drv = dest / "etc" / "libibverbs.d" / "softrxe.driver"
    assert so.is_file() and drv.is_file()
    lines = [ln for ln in drv.read_text().splitlines() if ln and not ln.startswith("#")]
    # libibverbs appends "-rdmav34.so" to an absolute driver name
    assert lines == [f"driver {libdir}/libsoftrxe"]

    r = make(tree, f"DESTDIR={dest}", "PROVIDER_DIR=/opt/softodp/lib", "install")
    assert r.returncode == 0, r.stdout
    assert (dest / "opt/softodp/lib/libsoftrxe-rdmav34.so").is_file()
    assert "driver /opt/softodp/lib/libsoftrxe\n" in drv.read_text()

    r = make(tree, f"DESTDIR={dest}", "PROVIDER_DIR=/opt/softodp/lib", "uninstall")
    assert r.returncode == 0, r.stdout
    assert not drv.exists() and not (dest / "opt/softodp/lib/libsoftrxe-rdmav34.so").exists()
