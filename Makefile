# edgekit developer entry points. `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV ?= .venv
# torch first and pinned: an unpinned torch pulls GBs of CUDA packages. Pick yours, e.g.
#   make test TORCH_SPEC="torch==2.5.1 --index-url https://download.pytorch.org/whl/cpu"
TORCH_SPEC ?= torch==2.13.0
EXTRAS ?= all,dev,docs
# The on-device environment: the oldest Python we support (JetPack 5 = 3.8) with numpy 1.x and
# OpenCV 4.x, as on a Jetson; falls back to $(PYTHON) where no 3.8 interpreter exists.
DEVICE_PYTHON ?= $(firstword $(wildcard /root/.pyenv/versions/3.8*/bin/python3.8) $(shell command -v python3.8 2>/dev/null) $(PYTHON))
DEVICE_VENV ?= .venv-device
PIP = $(VENV)/bin/python -m pip
PYTEST_ARGS ?=

.PHONY: help venv device-venv demo docs test test-fast test-bench test-device lint clean fixture-venv check-aarch64 test-variants

help:
	@echo "make demo   - set up $(VENV) and run the most complete user path"
	@echo "make test   - set up $(VENV) and $(DEVICE_VENV), lint, run the whole test suite"
	@echo "make test-fast - the suite without tests marked slow"
	@echo "make docs   - build the documentation site into $(SITE_DIR)/ (mkdocs build --strict)"

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SPEC)
	@# a venv from before the rename to edgekit-detect holds an "edgekit" distribution: drop it
	$(PIP) uninstall -q -y edgekit 2>/dev/null || true
	$(PIP) install -q -e ".[$(EXTRAS)]"
	touch $@

venv: $(VENV)/.installed

$(DEVICE_VENV)/.installed: pyproject.toml
	$(DEVICE_PYTHON) -m venv $(DEVICE_VENV)
	$(DEVICE_VENV)/bin/python -m pip install -q --upgrade pip
	$(DEVICE_VENV)/bin/python -m pip install -q "numpy<2" "opencv-python-headless<5" onnx pytest vermin norfair
	$(DEVICE_VENV)/bin/python -m pip uninstall -q -y edgekit 2>/dev/null || true
	$(DEVICE_VENV)/bin/python -m pip install -q -e ".[onnx,openvino]"
	touch $@

device-venv: $(DEVICE_VENV)/.installed

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# the documentation site; --strict: a broken link, a missing page or a stale generated part fails
SITE_DIR ?= site
docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir $(SITE_DIR)

test: venv device-venv lint
	$(MAKE) --no-print-directory docs
	$(VENV)/bin/python -m pytest --ignore=tests/bench --ignore=tests/pipeline $(PYTEST_ARGS)
	@# the live-stream and Ctrl-C tests in a fresh process: a Ctrl-C'd stream once stalled there after
	@# the converter tests (fixed since: Ctrl-C sets a flag the loop polls); kept apart as a safeguard
	$(VENV)/bin/python -m pytest tests/pipeline $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-bench
	$(MAKE) --no-print-directory test-device

# tests/bench in a process of its own: under CPU load a native thread aborted it now and then
# (SIGABRT while an OpenVINO model was read; not seen since one ov.Core serves the process, but
# not proven gone). An abort (exit 134) is retried once and says so; any other failure fails at once.
test-bench: venv
	$(VENV)/bin/python -m pytest tests/bench $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 134 ]; then echo "tests/bench aborted (SIGABRT): retrying once"; \
	  $(VENV)/bin/python -m pytest tests/bench $(PYTEST_ARGS); else exit $$rc; fi; }

test-fast: venv
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

# the on-device tests again, under the device interpreter with numpy 1.x and OpenCV 4.x
test-device: device-venv
	$(DEVICE_VENV)/bin/python -m pytest -m ondevice -p no:cacheprovider $(PYTEST_ARGS)

# Slow, not in `make test`: the on-device install on arm64 Debian (bookworm: Python 3.11, bullseye:
# Python 3.9) under qemu-user emulation, against a bundle made here. Needs root; see the script.
check-aarch64: venv
	bash tools/aarch64_check.sh

# the bundled detector: converted for the CPU target, run on generated images, evaluated
DEMO_CHECKPOINT ?= tests/data/fixtures/yolo11-shapes.pt
demo: venv
	$(VENV)/bin/edgekit doctor
	$(VENV)/bin/python tools/demo.py $(DEMO_CHECKPOINT) --target cpu --out runs/demo

clean:
	rm -rf $(VENV) $(DEVICE_VENV) build dist *.egg-info .pytest_cache .ruff_cache

# Developer-only: the real ultralytics package (for trained fixtures and peer comparisons),
# never a dependency of edgekit. Its NMS needs torchvision ops: ../shared/tools provides them on CPU torch.
FIXTURE_VENV ?= .venv-fixtures
$(FIXTURE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(FIXTURE_VENV)
	$(FIXTURE_VENV)/bin/python -m pip install -q --upgrade pip
	$(FIXTURE_VENV)/bin/python -m pip install -q $(TORCH_SPEC)
	$(FIXTURE_VENV)/bin/python -m pip install -q --no-deps ultralytics==8.4.190 torchvision==0.28.0
	$(FIXTURE_VENV)/bin/python -m pip install -q matplotlib pillow pyyaml requests psutil polars ultralytics-thop scipy
	$(FIXTURE_VENV)/bin/python -m pip uninstall -q -y edgekit 2>/dev/null || true
	$(FIXTURE_VENV)/bin/python -m pip install -q -e ".[all]"
	touch $@

fixture-venv: $(FIXTURE_VENV)/.installed

# Slow, not in `make test` (hours on 2 cores): every full-size variant (Ultralytics v8/v9/v10/11/26
# scales from the real package, WongKinYiu YOLOv9/GELAN, DAMO-YOLO) in its official format with
# official init, converted by the real CLI for VARIANT_TARGETS with no option added.
VARIANTS_DIR ?= /tmp/edgekit-variants
VARIANT_TARGETS ?= cpu
test-variants: venv fixture-venv
	TORCHVISION_SHIM=$(abspath ../shared/tools/torchvision_cpu_shim.py) \
	  $(FIXTURE_VENV)/bin/python tools/make_variant_checkpoints.py --family ultralytics rtdetr --out $(VARIANTS_DIR)
	$(VENV)/bin/python tools/make_variant_checkpoints.py --family yolov9 damoyolo --out $(VARIANTS_DIR)
	EDGEKIT_VARIANTS=$(VARIANTS_DIR) EDGEKIT_VARIANT_TARGETS=$(VARIANT_TARGETS) \
	  $(VENV)/bin/python -m pytest -m variants tests/verify/test_variants.py $(PYTEST_ARGS)
