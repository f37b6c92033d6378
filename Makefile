# One cargo profile (release) for tests, binary and benchmarks: compile once.
CARGO ?= cargo
BIN := target/release/mmbind
DEMO_DIR ?= demo-out

.PHONY: build test bench bench-scale bench-torch demo fmt clean fuzz fuzz-smoke

build:
	$(CARGO) build --release --workspace --all-targets

test:
	$(CARGO) test --release --workspace
	./scripts/scale-tests.sh

bench:
	$(CARGO) bench --bench encoders
	$(CARGO) bench --bench train
	$(CARGO) bench --bench preprocess
	$(CARGO) bench -p mmbind-cli --bench serve_load
	$(MAKE) bench-scale

# LanceDB's IVF-PQ beside the local HNSW graph on 100,000 real embeddings (recall@10, latency),
# both pinned to one core, rounds interleaved; needs `make demo`'s model and the venv that
# `make test` makes (docs/scale.md).
SCALE_VENV ?= $(or $(CARGO_TARGET_DIR),target)/scale-venv
bench-scale: build
	taskset -c 0 $(SCALE_VENV)/bin/python python/bench/recall.py --model $(DEMO_DIR)/model

# The encoders beside PyTorch eager on the same cores, rounds interleaved (docs/speed.md):
# TORCH_PYTHON is an interpreter with torch (python3 -m venv v && v/bin/pip install torch numpy).
TORCH_PYTHON ?= python3
bench-torch:
	python3 crates/mmbind/benches/side_by_side.py --python $(TORCH_PYTHON)

# The main job on the embedded default data.
demo: build
	./scripts/demo.sh $(BIN) $(DEMO_DIR)

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(DEMO_DIR)

# Coverage-guided fuzzing of the decoders and index readers (needs `rustup toolchain install
# nightly` and `cargo install cargo-fuzz`; see fuzz/README.md). Each target runs FUZZ_SECONDS
# with a 1 GB RSS limit and 10 s per input; FUZZ_TARGETS picks some (default: all).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz:
	FUZZ_SECONDS=$(FUZZ_SECONDS) ./fuzz/fuzz.sh $(FUZZ_TARGETS)

# A few seconds per target from the committed seeds (what CI runs).
fuzz-smoke:
	./fuzz/smoke.sh $(FUZZ_TARGETS)
