# Developer entry points. Every target sets up .venv/ first, so each works on a fresh clone.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
# The CPU build of torch; GPU users install their CUDA build into .venv first (see README) and setup keeps it.
TORCH_CPU := torch==2.13.0

.PHONY: setup render test studio dist check-dist clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install $(TORCH_CPU)
	$(PY) -m pip install -e '.[dev]'
	touch $@

# Render the text-to-video example with the bundled shapes model (resources/models/shapes): a red circle moving right.
render: setup
	$(PY) -m studio.cli render resources/workflows/text_to_video.json --out renders/text_to_video.mp4 --overwrite

# Open the studio window with the text-to-video example.
studio: setup
	$(PY) -m studio.cli gui

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q

# The wheel users install (packaging/install.sh): the studio, nodes/ and resources/ (examples, bundled models, icons).
# build/lib is cleared first because setuptools reuses it and would ship files deleted since.
dist: setup
	rm -rf build/lib build/bdist.* dist/studio-*.whl
	$(PY) -m pip wheel --no-deps --no-build-isolation -w dist .
	@ls -l dist/studio-*.whl

# Build the wheel, install it with packaging/install.sh into a throwaway home, render, screenshot, uninstall.
check-dist: dist
	packaging/check.sh dist/studio-*.whl

clean:
	rm -rf $(VENV) build dist *.egg-info
