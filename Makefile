# softodp top-level Makefile. Stable entry points:
#   make deps      install the Debian packages the project needs
#   make kernel    build (or reuse from cache) the guest kernel
#   make modules   build our kernel modules against it
#   make check     the test suite (host rig tests, then the guest suite)
#   make demo      the main job: boot the VM and show what softodp does
#   make vm-run CMD='...'   run CMD in the test VM with our modules and rxe0 up
#   make checkpatch         checkpatch.pl --strict over our kernel code
#   make bench-odp / bench-peer / bench-rnr   benchmarks, side by side in one VM
SHELL := /bin/bash
.DEFAULT_GOAL := all
TOP := $(CURDIR)

.PHONY: all deps kernel modules userspace check demo vm-run checkpatch clean bench-odp bench-peer bench-rnr soak

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
