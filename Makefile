# medinpaint: `make test` and `make demo` set everything up on a fresh machine (venv + install).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   := demo_out

.PHONY: setup test demo data lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

test: setup
	$(PY) -m pytest -q

lint: setup
	$(VENV)/bin/ruff check medinpaint tests bench plugins

demo: setup
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(VENV)/bin/medinpaint info sample_data/ct_head_series
	$(VENV)/bin/medinpaint info sample_data/mr_head.nii.gz
	$(VENV)/bin/medinpaint convert sample_data/ct_head_series $(DEMO)/ct_head.nii.gz
	$(VENV)/bin/medinpaint convert sample_data/mr_head.nii.gz $(DEMO)/mr_head.nrrd
	$(VENV)/bin/medinpaint convert sample_data/ct_head_series $(DEMO)/ct_head_derived
	@echo "demo outputs in $(DEMO)/"

data: setup
	$(PY) -m medinpaint.data.fetch data

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
