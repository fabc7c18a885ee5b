# Runespoor — the commands a user types.  Every target sets itself up first (`make setup`).
#   make demo    end-to-end demo on built-in synthetic data (source -> edge -> cloud over DDS)
#   make test    the full test suite (what CI runs)
#   make bench   benchmarks, JSON under out/bench/ (make soak / make lossy: the long runs)
# Variables: ROS_WHEELS=jazzy|kilted (PyPI wheels when no ROS 2 is sourced; default jazzy),
#            TASK=segmentation|detection (demo), DEMO_ARGS=... (e.g. --frames 170),
#            PYTEST_ARGS=... (extra pytest arguments).

SHELL := /bin/bash
ROS_WHEELS ?= jazzy
PYTEST_ARGS ?=
DEMO_ARGS ?=
ENV := source scripts/env.sh $(ROS_WHEELS)

.PHONY: help setup setup-kilted demo test bench soak lossy lock clean

help:
	@sed -n '2,7p' Makefile | sed 's/^# \{0,1\}//'

setup:
	@scripts/setup.sh $(ROS_WHEELS)

# A lean second distribution (messages only) for the cross-distribution DDS test.
setup-kilted:
	@if [ -n "$$ROS_DISTRO" ] && [ -z "$$RUNESPOOR_WHEELS_ENV" ]; then \
		echo "[setup] system ROS 2 sourced: no Kilted wheels needed"; \
	else scripts/setup.sh kilted --msgs-only; fi

demo: setup
	@$(ENV) && python scripts/demo.py $(if $(TASK),--task $(TASK)) $(DEMO_ARGS)

test: setup setup-kilted
	@$(ENV) && scripts/run_tests.sh $(PYTEST_ARGS)

bench: setup
	@$(ENV) && mkdir -p out/bench && \
	for b in benchmarks/bench_*.py; do \
		case "$$b" in *bench_soak.py|*bench_lossy_link.py) continue;; esac; \
		echo "== $$b"; python "$$b" --out out/bench || exit 1; done
	@echo "results: out/bench/*.json (the long runs: make soak, make lossy)"

# The long robustness runs (docs/operations.md): a 15-minute soak and the packet-loss sweep.
soak: setup
	@$(ENV) && python benchmarks/bench_soak.py --out out/bench

lossy: setup
	@$(ENV) && python benchmarks/bench_lossy_link.py --out out/bench

# Regenerate the pinned lock files from requirements/*.in (needs network access to the indexes).
lock:
	@scripts/lock.sh

clean:
	rm -rf ros2_ws/build ros2_ws/install ros2_ws/log ros2_ws/build-kilted ros2_ws/install-kilted out
