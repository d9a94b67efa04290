# Everything installs into a local virtual environment (.venv). Targets are
# idempotent: the venv is only (re)installed when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.stamp-run
STAMP_TEST := $(VENV)/.stamp-test
STAMP_DEV := $(VENV)/.stamp-dev
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: run test demo-volume train-default train-seed bench stress dist app check-wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(STAMP_RUN)

$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,demo]'
	touch $@ $(STAMP_RUN) $(STAMP_TEST)

## Open the app on the bundled demo volume (uses a real display if there is one).
run: $(STAMP_RUN)
	$(BIN)/mri-denoise-gui --demo

## Run the whole suite headless.
test: $(STAMP_TEST)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

## Rebuild resources/demo from nilearn's MNI152 template (needs the demo extra).
demo-volume: $(STAMP_DEV)
	$(BIN)/python packaging/build_demo_volume.py

## Train the shipped default model (CPU, under 90 minutes on 2 cores).
train-default: $(STAMP_DEV)
	$(BIN)/python packaging/train_shipped_models.py default

train-seed: $(STAMP_DEV)
	$(BIN)/python packaging/train_shipped_models.py seed-autoencoder

bench: $(STAMP_TEST)
	$(BIN)/python benchmarks/bench_inference.py
	$(BIN)/python benchmarks/bench_quality.py
	$(BIN)/python benchmarks/bench_gui.py
	$(BIN)/python benchmarks/bench_batch.py

stress: $(STAMP_TEST)
	$(BIN)/python benchmarks/stress_threads.py --minutes 10

dist: $(STAMP_RUN)
	$(BIN)/python -m pip install --quiet build
	$(BIN)/python -m build --outdir dist .

app: $(STAMP_RUN)
	$(BIN)/python -m pip install --quiet pyinstaller
	$(BIN)/python packaging/build_app.py

check-wheel: dist
	bash packaging/check_wheel.sh

clean:
	rm -rf build dist *.egg-info
