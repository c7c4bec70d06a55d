# emostream: `make demo` runs the whole stack, `make test` runs every test. Both create .venv first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
# uv compiles the lock and installs it; lock/bootstrap.txt pins uv itself, by hash
LOCK := lock/requirements.txt
COMPILE_FLAGS := --override lock/overrides.txt --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command 'make lock'
LOCK_FLAGS := pyproject.toml lock/app.in --extra all --extra test $(COMPILE_FLAGS)
# one lock per service image (deploy/Dockerfile), a subset of the app's lock: its versions and hashes
SERVICES := ingest detector classifier tracker events ui
# the package sources pip is configured with on this machine, if any (scripts/uv_sources.py); only the
# install uses them: the lock is compiled against PyPI alone, so it is the same on every machine
SOURCES = $(shell $(PYTHON) scripts/uv_sources.py)
PORT ?= 7860

.PHONY: install lock upgrade service-locks demo test test-unit lint clean bench-deps

$(UV): lock/bootstrap.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r lock/bootstrap.txt
	touch $@

# exactly the lock (sync also removes what is not in it), then the project itself without deps
$(VENV)/.installed: $(LOCK) pyproject.toml $(UV)
	$(UV) pip sync --quiet --python $(PY) --require-hashes $(SOURCES) $(LOCK)
	$(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation -e .
	$(PY) scripts/check_install.py
	touch $@

install: $(VENV)/.installed

# the lock from pyproject.toml's ranges and lock/app.in, keeping every pin that still satisfies them
lock: $(UV)
	$(UV) pip compile --quiet $(LOCK_FLAGS) -o $(LOCK)
	$(MAKE) --no-print-directory service-locks

# every package to its newest release within the ranges (one package: make upgrade P=name)
upgrade: $(UV)
	$(UV) pip compile --quiet $(LOCK_FLAGS) $(if $(P),--upgrade-package $(P),--upgrade) -o $(LOCK)
	$(MAKE) --no-print-directory service-locks

service-locks: $(UV)
	for s in $(SERVICES); do \
	  $(UV) pip compile --quiet pyproject.toml lock/build.in $$(test -f lock/$$s.in && echo lock/$$s.in) \
	    --extra $$s --constraint $(LOCK) $(COMPILE_FLAGS) -o lock/$$s.txt || exit 1; \
	done

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
