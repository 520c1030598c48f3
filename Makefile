# datatwin: `make demo` and `make test` work on a fresh machine (Python 3.10+ with venv and pip).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
DEMO_OUT := demo_out

.PHONY: install demo test lint typecheck bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: that version is the local CPU build; any other torch request downloads GBs.
$(STAMP): $(PY) pyproject.toml constraints.txt
	$(PIP) install -q --disable-pip-version-check torch==2.13.0
	$(PIP) install -q --disable-pip-version-check -c constraints.txt -e ".[dev,web,dask,privacy]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	mkdir -p $(DEMO_OUT)
	$(VENV)/bin/datatwin synth src/datatwin/datasets/insurance.csv -n 5000 -o $(DEMO_OUT)/insurance_synthetic.csv \
		--model $(DEMO_OUT)/insurance.dtw --report $(DEMO_OUT)/insurance_report.html --target charges --seed 0
	@echo "demo: synthetic rows in $(DEMO_OUT)/insurance_synthetic.csv, report in $(DEMO_OUT)/insurance_report.html"

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/lint-imports

typecheck: install
	$(VENV)/bin/mypy src/datatwin

bench: install
	$(PY) benchmarks/bench_single_table.py

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
