# Developer entry points. Every target sets up .venv/ first, so each works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch; GPU users install their CUDA build into .venv first (see README) and setup keeps it.
TORCH_CPU := torch==2.13.0

.PHONY: setup render test studio clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(TORCH_CPU)
	$(PY) -m pip install -e '.[dev]'
	touch $@

# Until the bundled shapes model is trained (its own issue), render through a tiny random-init model: the frames
# are noise, but the whole path (load, encode, guide, sample, decode, H.264) is the real one.
render: setup
	@if [ -f resources/models/shapes/model_index.json ]; then \
	  $(PY) -m studio.cli render resources/workflows/text_to_video.json --out renders/text_to_video.mp4 --overwrite; \
	else \
	  echo "bundled model not present yet: rendering with a tiny random-init model (expect noise)"; \
	  $(PY) -m studio.models.tiny build/tiny-wan --expand-timesteps && \
	  $(PY) -m studio.cli render resources/workflows/text_to_video.json --out renders/text_to_video.mp4 \
	    --overwrite --set model.path=$(CURDIR)/build/tiny-wan; \
	fi

# Open the studio window with the text-to-video example.
studio: setup
	$(PY) -m studio.cli gui

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

clean:
	rm -rf $(VENV) build *.egg-info
