# Two commands a newcomer needs: `make demo` and `make test`. Everything else is here too.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Where `make handwriting-model` writes its data, run and model.
HANDWRITING ?= var/handwriting

.PHONY: install lock demo test test-slow test-containers lint format bench bench-classes services triton-local handwriting-model clean

$(STAMP): pyproject.toml requirements/dev.txt scripts/install.sh scripts/uv.sh
	bash scripts/install.sh $(VENV)

install: $(STAMP)

# Re-pins every role's packages (requirements/*.txt) after a change to pyproject.toml.
lock:
	bash scripts/lock.sh

services:
	bash scripts/services.sh

test: install services
	$(PY) -m pytest $(PYTEST_ARGS)

# The images built offline and the compose CPU stack run for real (a private dockerd,
# started and stopped here): the six missions through the containers. Root and apt install
# Debian's docker.io and debootstrap when missing. scripts/containers/test.sh.
test-containers: install services
	bash scripts/containers/test.sh $(PYTEST_ARGS)

# The 3-hour lectures (mp3, m4a, WAV): about 30 minutes on 2 cores.
test-slow: install services
	$(PY) -m pytest -m lecture_hours tests/reliability/test_long_lecture_slow.py $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy worker inference triton_models demo bench

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

demo: install
	$(PY) -m demo

bench: install services $(HANDWRITING)/crnn.pth
	$(PY) -m bench

# The ASR and OCR benches and the hour's memory test under emulated lower CPU classes
# (docs/cpu-classes.md): AVX-512 with BF16 but no AMX, and AVX2 only. Results are tagged
# (bench/results/asr-avx2.json, ...); the native run is `make bench`.
CLASS_AVX512_BF16 := BENCH_RESULTS_TAG=avx512-bf16 ONEDNN_MAX_CPU_ISA=AVX512_CORE_BF16 CT2_FORCE_CPU_ISA=AVX512
CLASS_AVX2 := BENCH_RESULTS_TAG=avx2 ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2 CT2_FORCE_CPU_ISA=AVX2
bench-classes: install services
	set -o pipefail; for class in "$(CLASS_AVX512_BF16)" "$(CLASS_AVX2)"; do \
	  env $$class $(PY) -m bench asr ocr || exit 1; \
	  env $$class $(PY) -m pytest -q -k bounded_memory tests/reliability/test_long_lecture.py \
	    -o log_cli=true --log-cli-level=INFO | grep -E 'hour:|passed|failed|Error' || exit 1; \
	done

# A handwriting recognizer for this machine (docs/ocr.md, "Training the recognizer on
# handwriting"): synthetic lines in Debian's handwriting fonts, the CRNN fine-tuned on them
# within HANDWRITING_MINUTES (it resumes if interrupted), its ONNX graphs exported and
# checked. The demo and OCR_RECOGNIZER__CRNN_WEIGHTS=$(HANDWRITING)/crnn.pth pick it up.
HANDWRITING_MINUTES ?= 50
TRAINING := $(PY) -m inference.ocr_server.training
handwriting-model: install
	[ -f $(HANDWRITING)/data/val/labels.tsv ] || $(TRAINING) synth --out $(HANDWRITING)/data \
	  --train-lines 16000 --val-lines 1200
	$(TRAINING) train --train $(HANDWRITING)/data/train --val $(HANDWRITING)/data/val \
	  --out $(HANDWRITING)/run --epochs 6 --lr 4e-4 --time-budget $(HANDWRITING_MINUTES)
	$(TRAINING) export --weights $(HANDWRITING)/run/best.pth --val $(HANDWRITING)/data/val
	cp $(HANDWRITING)/run/best.pth $(HANDWRITING)/crnn.pth

# The handwriting benchmark (bench/handwriting.py) reads this model: trained once if missing.
$(HANDWRITING)/crnn.pth:
	$(MAKE) handwriting-model

triton-local: install
	bash scripts/triton_local.sh

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
