# Quick start (fresh machine):
#   make demo    # install, then run the default goal end-to-end on SmolLM2 (data -> train -> eval)
#   make test    # install, then run the whole test suite
.PHONY: setup demo test bench
setup: .venv/.tunepilot-installed
.venv/.tunepilot-installed: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh
demo: setup
	bash scripts/demo.sh
test: setup
	.venv/bin/python -m pytest -q -n $${TEST_WORKERS:-2} --dist worksteal --durations=15
bench: setup
	.venv/bin/python benchmarks/train_throughput.py --baseline-batch-size 4
