# softodp top-level Makefile. Stable entry points:
#   make deps      install the Debian packages the project needs
#   make kernel    build (or reuse from cache) the guest kernel
#   make modules   build our kernel modules against it
#   make check     the test suite (host rig tests, then the guest suite)
#   make demo      the main job: boot the VM and show what softodp does
#   make vm-run CMD='...'   run CMD in the test VM with our modules and rxe0 up
#   make checkpatch         checkpatch.pl --strict over our kernel code
#   make bench     every benchmark in one VM run (release kernel unless
#                  SOFTODP_FLAVOUR says otherwise): build/bench/summary.md
#   make bench-upstream     the same RDMA workloads on a stock kernel's rxe
#   make bench-odp / bench-peer / bench-rnr   benchmarks, side by side in one VM
SHELL := /bin/bash
.DEFAULT_GOAL := all
TOP := $(CURDIR)

.PHONY: all deps kernel modules userspace check demo vm-run checkpatch clean bench-odp bench-peer bench-rnr soak \
	bench bench-upstream

all: modules userspace

deps:
	@scripts/deps

kernel: deps
	@scripts/build-kernel

modules: kernel
	@scripts/build-modules

userspace:
	@$(MAKE) -s -C tests/progs
	@$(MAKE) -s -C rdma-core-provider
	@$(MAKE) -s -C userspace/dpmem

vm-run: all
	@test -n "$$CMD" || { echo "usage: make vm-run CMD='...'" >&2; exit 2; }
	@scripts/vm-run "$$CMD"

check: all
	@scripts/check

demo: all
	@scripts/vm-run scripts/demo

# The benchmarks default to the release flavour (no lockdep, DEBUG_VM, ...);
# the target-specific export reaches the kernel and module builds too.
bench bench-upstream: export SOFTODP_FLAVOUR := $(or $(SOFTODP_FLAVOUR),release)

bench: all
	@scripts/bench

# Not part of make check: downloads and builds a second kernel.
bench-upstream: deps userspace
	@scripts/bench --upstream

bench-odp: all
	@SOFTODP_VM_MEM=3072M scripts/vm-run /usr/bin/python3 bench/odp.py

bench-peer: all
	@SOFTODP_VM_MEM=3072M scripts/vm-run /usr/bin/python3 bench/peer.py

bench-rnr: all
	@scripts/vm-run /usr/bin/python3 bench/rnr.py

soak: all
	@scripts/soak $(or $(SECONDS),60)

checkpatch: kernel
	@scripts/checkpatch

clean:
	rm -rf build
	@$(MAKE) -s -C tests/progs clean
