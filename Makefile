# Two entry points for a newcomer: `make demo` and `make test`. Both create/refresh the venvs.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PY ?= python3
VENV := .venv
LSVENV := .venv-ls
COMPATVENV := .venv-compat
PIP := $(VENV)/bin/pip -q --disable-pip-version-check
# pip warns once per unused local index entry; keep real errors visible and failing.
PIP_QUIET := 2>&1 | { grep -v "^WARNING: Location" || true; }
DEMO_OUT ?= demo-out

.PHONY: demo test test-compat venv venv-ls browser lint clean

# torch first, pinned to the local CPU wheel: the `train` extra's range would otherwise let pip pull GBs
# of CUDA builds. Then every extra: the tests cover the dataset and the model side.
$(VENV)/.stamp: pyproject.toml
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(PIP) install torch==2.13.0 $(PIP_QUIET)
	$(PIP) install -e '.[train,robustness,dev]' $(PIP_QUIET)
	# imagecorruptions 1.1.2 declares full opencv-python, which would overwrite the headless cv2; the
	# robustness extra therefore leaves it out (pyproject.toml says why) and it comes without deps.
	$(PIP) install --no-deps imagecorruptions==1.1.2 $(PIP_QUIET)
	$(VENV)/bin/python -c "import torch, cv2, datasets, endods, cli.main" 
	touch $@

venv: $(VENV)/.stamp

# Label Studio server in its own venv: its pins (Django, numpy) must not constrain ours.
$(LSVENV)/.stamp:
	test -x $(LSVENV)/bin/python || $(PY) -m venv $(LSVENV)
	$(LSVENV)/bin/pip -q --disable-pip-version-check install label-studio==1.23.2 $(PIP_QUIET)
	$(LSVENV)/bin/label-studio version >/dev/null
	touch $@

venv-ls: $(LSVENV)/.stamp

# Debian's chromium for the report's browser test (no browser download from any test tool).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "could not install chromium (browser tests will say why)"; \
	  else echo "chromium not installed and not root: browser tests will say why"; fi; \
	fi

demo: venv
	$(VENV)/bin/endods demo --out $(DEMO_OUT)

test: venv venv-ls browser
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -q

# Not part of `make test`: the model, training and publish tests on the older stack a GPU box may
# carry (transformers 4.x, which pins huggingface_hub < 1.0).
test-compat:
	test -x $(COMPATVENV)/bin/python || $(PY) -m venv $(COMPATVENV)
	$(COMPATVENV)/bin/pip -q --disable-pip-version-check install torch==2.13.0 $(PIP_QUIET)
	$(COMPATVENV)/bin/pip -q --disable-pip-version-check install -e '.[train,robustness,dev]' 'transformers<5' $(PIP_QUIET)
	$(COMPATVENV)/bin/pip -q --disable-pip-version-check install --no-deps imagecorruptions==1.1.2 $(PIP_QUIET)
	$(COMPATVENV)/bin/python -c "import transformers, huggingface_hub as h; print('transformers', transformers.__version__, 'hub', h.__version__)"
	$(COMPATVENV)/bin/python -m pytest -q -p no:cacheprovider tests/endoarss tests/endods/hub

lint: venv
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

clean:
	rm -rf $(VENV) $(LSVENV) $(COMPATVENV) $(DEMO_OUT) .pytest_cache
