"""A 1 GiB hugetlb page under an ODP MR (issue 12): one huge leaf, one
mapping, bytes right. The guest suite's VM has two 1 GiB NUMA nodes, too
small for such a page, so this boots its own guest with one reserved at
boot."""
import os
import re

from test_rig import TOP, vm_run

SPARSE = os.path.join(TOP, "build", "bin", "odp_sparse")


def test_a_1_gib_hugetlb_page_is_one_huge_leaf_and_moves_bytes():
    gid = (f"$(python3 -c 'import sys; sys.path.insert(0, \"{TOP}/tests/guest\"); "
           f"import rdma; print(rdma.RxeDevice(\"rxe0\").gid_index())')")
    r = vm_run(f"{SPARSE} -g {gid} -s {1 << 30} hugetlb",
               SOFTODP_VM_MEM="3072M", SOFTODP_VM_NUMA="1",
               SOFTODP_VM_APPEND="hugepagesz=1G hugepages=1")
    assert r.returncode == 0, r.stdout + r.stderr
    out = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(-?\d+)", r.stdout))
    # the whole GiB is one leaf, stored once, gone with the munmap
    assert out["huge_touched"] - out["huge_before"] == 1, r.stdout
    assert out["leaves_touched"] == out["leaves_before"], r.stdout
    assert out["huge_unmapped"] == out["huge_before"], r.stdout
