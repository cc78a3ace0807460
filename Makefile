# Entry points. Every target sets up first (idempotent, seconds when done).
VENV := .venv
BIN := $(VENV)/bin
export PYTHONUNBUFFERED := 1

.PHONY: setup listen test test-slow bench model enrol clean help

help:
	@echo "make listen   set up, then listen on the default microphone with the bundled model"
	@echo "make test     set up, then run the whole test suite"
	@echo "make bench    speed, memory and accuracy figures -> docs/benchmarks.md"
	@echo "make model    retrain the bundled 'activate' model from configs/activate.yaml"
	@echo "make enrol    record your voice and fine-tune the bundled model on it (build/enrol)"

setup:
	@scripts/setup.sh

listen: setup
	$(BIN)/wakeword listen

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

bench: setup
	@$(BIN)/python -m pip install -q -c constraints.txt -e '.[bench]' 2>&1 | grep -v 'WARNING: Location' || true
	$(BIN)/python scripts/bench.py

model: setup
	scripts/make_model.sh

enrol: setup
	scripts/enrol.sh

clean:
	rm -rf build *.egg-info .pytest_cache
