"""The sparse mirror (issue 12): an ODP MR costs memory and time for what it
mirrors, not for its span.

build/bin/odp_sparse registers MRs over PROT_NONE reservations, moves bytes
through a few scattered pages and compares them; these tests check what the
mirror allocated for it (debugfs softodp_mirror/live: leaves and bytes)."""
import os
import subprocess

import pytest

from rdma import BIN, counter_delta, hw_counters, live_objects, wait_live

SPARSE = os.path.join(BIN, "odp_sparse")
LEAF_PAGES = 512
# a small leaf: 512 eight-byte entries and a header of at most 64 bytes
LEAF_BYTES_MAX = LEAF_PAGES * 8 + 64
TIB = 1 << 40


def sparse(gid, mode, *args):
    r = subprocess.run([SPARSE, "-d", "rxe0", "-g", gid, *args, mode],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"odp_sparse {mode} {args}:\n{r.stdout}{r.stderr}"
    return dict((k, float(v)) for k, v in (kv.split("=") for kv in r.stdout.split()))


@pytest.mark.parametrize("size", [4096, 1 << 30, TIB, 64 * TIB])
def test_registering_an_explicit_odp_mr_allocates_no_page_table(gid, size):
    before = live_objects()
    out = sparse(gid, "reg", "-s", str(size))
    # the mirror gained nothing at registration, and lost it all after
    assert out["bytes_registered"] == out["bytes_before"], out
    assert out["bytes_after"] == out["bytes_before"], out
    assert wait_live(before) == before


def test_scattered_pages_of_a_1_tib_mr_cost_one_leaf_each_and_go_with_munmap(gid):
    before = live_objects()
    c0 = hw_counters()
    out = sparse(gid, "scatter", "-s", str(TIB), "-n", "64")
    d = counter_delta(c0, hw_counters())
    # bytes compared in the program; one 4 KiB page in each of 64 leaves
    assert out["leaves_touched"] - out["leaves_before"] == 64, out
    grown = out["bytes_touched"] - out["bytes_before"]
    assert 0 < grown <= 64 * LEAF_BYTES_MAX, out
    # munmap of each page invalidated it and emptied its leaf
    assert out["leaves_unmapped"] == out["leaves_before"], out
    assert d["odp_pages_invalidated"] >= 64, d
    assert d["odp_fault_errors"] == 0, d
    assert wait_live(before) == before


def test_dense_mirror_costs_about_8_bytes_per_page(gid):
    # every page of an 8 MiB MR (2 MiB aligned): 4 full leaves
    before = live_objects()
    pages = 2048
    out = sparse(gid, "scatter", "-s", str(pages * 4096), "-n", str(pages))
    grown = out["bytes_touched"] - out["bytes_before"]
    assert out["leaves_touched"] - out["leaves_before"] == pages // LEAF_PAGES, out
    assert grown / pages <= 8.2, out
    assert wait_live(before) == before


@pytest.mark.parametrize("with_mr", ["0", "1"])
def test_munmap_and_exit_of_a_reservation_under_an_odp_mr_work(gid, with_mr):
    # times are benchmarks (make bench: the same program); here: both
    # complete, and nothing is left behind
    before = live_objects()
    r = subprocess.run([os.path.join(BIN, "bench_mm"), "-d", "rxe0", "-g", gid,
                        "-s", str(16 << 30), "-r", "2", "-m", with_mr, "unmap"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "munmap_us=" in r.stdout and "exit_us=" in r.stdout, r.stdout
    assert wait_live(before) == before


def test_a_2_mib_hugetlb_page_is_one_huge_leaf(gid, hugepages):
    before = live_objects()
    c0 = hw_counters()
    out = sparse(gid, "hugetlb", "-s", str(2 << 20))
    d = counter_delta(c0, hw_counters())
    assert out["huge_touched"] - out["huge_before"] == 1, out
    assert out["leaves_touched"] == out["leaves_before"], out
    assert out["huge_unmapped"] == out["huge_before"], out
    assert d["odp_huge_mappings"] >= 1, d
    assert wait_live(before) == before
