# medinpaint: `make test` and `make demo` set everything up on a fresh machine (venv + install).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   := demo_out
FETCH  := $(PY) -m medinpaint.data.fetch

.PHONY: setup test demo data lint clean train-default

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# the whole suite, with the training sources fetched first (a no-op once data/ holds them); outside CI a
# source that cannot be fetched only warns, and the tests that need it skip with the reason. On
# TEST_WORKERS processes (pytest-xdist; CI's machine has 2 cores)
TEST_WORKERS ?= 2
test: setup
	$(FETCH) || [ "$$CI" != true ]
	$(PY) -m pytest -q -n $(TEST_WORKERS)

lint: setup
	$(VENV)/bin/ruff check medinpaint tests bench plugins

demo: setup
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(VENV)/bin/medinpaint info sample_data/ct_head_series
	$(VENV)/bin/medinpaint convert sample_data/ct_head_series $(DEMO)/ct_head_series.nii.gz
	@echo "--- damage a real MR and a real CT scan (seeded), then find and repair the damage"
	$(VENV)/bin/medinpaint simulate sample_data/mr_head.nii.gz $(DEMO)/mr_damaged.nii.gz --damage transmission --seed 4 --mask-out $(DEMO)/mr_damage_mask.nii.gz
	$(VENV)/bin/medinpaint simulate sample_data/ct_slice.dcm $(DEMO)/ct_damaged --damage transmission --seed 2 --mask-out $(DEMO)/ct_damage_mask.nii.gz
	$(VENV)/bin/medinpaint repair $(DEMO)/mr_damaged.nii.gz $(DEMO)/mr_repaired.nii.gz --report $(DEMO)/mr_report.json --mask-out $(DEMO)/mr_repaired_mask.nii.gz
	$(VENV)/bin/medinpaint repair $(DEMO)/ct_damaged $(DEMO)/ct_repaired --report $(DEMO)/ct_report.json --mask-out $(DEMO)/ct_repaired_mask.nii.gz
	@echo "--- score medinpaint against the classical fills on the sample scans"
	$(VENV)/bin/medinpaint evaluate --out $(DEMO)/evaluation
	@echo "demo outputs in $(DEMO)/: repaired scans, masks, reports; evaluation in $(DEMO)/evaluation/report.md"

data: setup
	$(FETCH)

# retrain the shipped models (bounded: 30 min each for repair, denoise and the SeedCNN
# baseline, on this 2-core CPU) and rebuild the model card's tables in runs/compare/compare.md
train-default: data
	$(PY) -m medinpaint.train --config medinpaint/train/recipes/repair.json
	$(PY) -m medinpaint.train --config medinpaint/train/recipes/denoise.json
	$(PY) -m medinpaint.train --config medinpaint/train/recipes/seed.json
	for m in repair denoise; do cp runs/$$m/best.safetensors medinpaint/models/$$m.safetensors; cp runs/$$m/best.json medinpaint/models/$$m.json; done
	$(PY) -m medinpaint.train.compare --repair medinpaint/models/repair.safetensors --seed-cnn runs/seed/best.safetensors --denoise medinpaint/models/denoise.safetensors --out runs/compare

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache
