# The README's two commands. Both create .venv on first use and install the package with its dev extra.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint format clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project's dependencies change.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e '.[dev]'
	touch $(STAMP)

DEMO_RUN := runs/quickstart/demo

# Train the quickstart DCGAN on the embedded bright-shapes data (no download), then write 64 samples.
demo: $(STAMP)
	rm -rf $(DEMO_RUN)
	$(PY) -m gan_upsample fit --config configs/quickstart.yaml --trainer.logger.init_args.version=demo
	$(PY) -m gan_upsample generate --ckpt_path $(DEMO_RUN)/checkpoints/last.ckpt --num 64 --out $(DEMO_RUN)/generated
	@echo "How many generated images hold shapes ShapesNet can name, beside real ones:"
	$(PY) -m gan_upsample shape-census $(DEMO_RUN)/generated
	@echo "Sample grids during training: $(DEMO_RUN)/images/samples/"
	@echo "64 generated images and grid.png: $(DEMO_RUN)/generated/"

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf runs lightning_logs wandb .pytest_cache .ruff_cache build *.egg-info
