# One cargo profile (release) for tests, binary and benchmarks: compile once.
CARGO ?= cargo
BIN := target/release/mmbind
DEMO_DIR ?= demo-out

.PHONY: build test bench demo fmt clean

build:
	$(CARGO) build --release --workspace --all-targets

test:
	$(CARGO) test --release --workspace

bench:
	$(CARGO) bench --bench encoders
	$(CARGO) bench --bench train
	$(CARGO) bench --bench preprocess

# The main job on the embedded default data.
demo: build
	./scripts/demo.sh $(BIN) $(DEMO_DIR)

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(DEMO_DIR)
