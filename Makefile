# palm: the two commands of the quick start, and a few more.
#   make demo    install what is missing, build, run the main job
#   make check   install what is missing, build, run every test
# Other targets: build, docs (refresh the generated references in docs/),
# runtime-only (build the runtime without LLVM/MLIR), clean.

BUILD ?= build
LLVM_PREFIX ?= /usr/lib/llvm-22
JOBS ?= $(shell nproc)

.PHONY: all deps configure build check demo docs runtime-only clean

all: build

deps:
	@scripts/install-deps.sh

# Configure once; prefer clang 22 (the project's LLVM) when it is installed.
$(BUILD)/build.ninja:
	@scripts/install-deps.sh
	@cc=""; if [ -x $(LLVM_PREFIX)/bin/clang++ ]; then \
	  cc="-DCMAKE_C_COMPILER=$(LLVM_PREFIX)/bin/clang -DCMAKE_CXX_COMPILER=$(LLVM_PREFIX)/bin/clang++"; fi; \
	  cmake -G Ninja -S . -B $(BUILD) -DMLIR_DIR=$(LLVM_PREFIX)/lib/cmake/mlir $$cc

configure: $(BUILD)/build.ninja

build: deps configure
	ninja -C $(BUILD) -j $(JOBS)

check: build
	ninja -C $(BUILD) -j $(JOBS) check

demo: build
	@scripts/demo.sh $(BUILD)

docs: configure
	ninja -C $(BUILD) palm-docs-update

runtime-only: deps
	cmake -G Ninja -S . -B $(BUILD)-runtime -DPALM_RUNTIME_ONLY=ON
	ninja -C $(BUILD)-runtime -j $(JOBS) check

clean:
	rm -rf $(BUILD) $(BUILD)-runtime
