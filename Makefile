# CareCircle — the two commands: `make run` and `make test` (each creates .venv when missing).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-12)

# Local development defaults (documented in the README; never used in production).
# AUTH_DEV=1 accepts HS256 tokens signed with JWT_SECRET (tests, benchmarks, the simulator); production never sets it.
export AUTH_DEV ?= 1
export JWT_SECRET ?= carecircle-dev-secret-change-me-0123456789
export KAFKA_BOOTSTRAP ?= 127.0.0.1:9092
export PYTHONUNBUFFERED := 1
# Clock (docs/clock.md): the demo moves simulated time, so `make run` is simulated while the demo runs
# and on the wall clock with DEMO=0; an explicit CLOCK_MODE=... wins.
ifeq ($(filter 0 false no off,$(DEMO)),)
export CLOCK_MODE ?= simulated
else
export CLOCK_MODE ?= wall
endif

.PHONY: run test test-faults venv schemas bench loadtest clean up down manifests

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-*; touch $@

run: venv  ## start the broker and every service; Ctrl-C stops them all
	@# A dev Ed25519 key pair under var/keys: services verify EdDSA tokens with its JWKS, the tokens CLI signs with it.
	$(BIN)/python -m services.common.keys var/keys
	@echo "CareCircle (dev keys in var/keys; mint tokens with: $(BIN)/python -m services.ingest.tokens --admin ops)"
	@echo "  ingest API   http://127.0.0.1:8001   docs http://127.0.0.1:8001/docs"
	@echo "  metrics      http://127.0.0.1:8002   dashboard http://127.0.0.1:8002/#token=<staff token>  docs http://127.0.0.1:8002/docs"
	@echo "  notifier     http://127.0.0.1:8003   nurse console http://127.0.0.1:8003/#token=<nurse/admin token>  docs http://127.0.0.1:8003/docs"
	@echo "  survey API   http://127.0.0.1:8004   docs http://127.0.0.1:8004/docs"
	@echo "  clock        CLOCK_MODE=$(CLOCK_MODE) ($(if $(filter wall,$(CLOCK_MODE)),a tick a minute from the wall clock; POST /v1/admin/clock answers 409,only POST /v1/admin/clock moves time))  http://127.0.0.1:8005/metrics"
	@echo "  broker       $(KAFKA_BOOTSTRAP) (tansu, memory storage)"
	@echo "  demo         a 60-member cohort replayed live (one simulated day / 3 s; its dashboard link is in the log); DEMO=0 make run turns it off"
	@# The broker keeps its log in memory, so ClickHouse starts empty too: the metrics sink stores its
	@# Kafka positions in ClickHouse, and positions from an earlier run would point past the new log.
	rm -rf var/chdb
	API_DOCS=1 JWT_JWKS_FILE=$(abspath var/keys/jwks.json) JWT_SIGNING_KEY_FILE=$(abspath var/keys/signing-key.pem) \
		PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho -f Procfile start

test: venv  ## lint (ruff, pyproject.toml [tool.ruff]), then the whole suite against the real broker and ClickHouse
	$(BIN)/ruff check .
	$(BIN)/python -m pytest --durations=15

test-faults: venv  ## crash, outage, hostile-input and access-control suite with its scoreboard (also part of `make test`)
	$(BIN)/python -m pytest tests/faults

schemas: venv  ## regenerate contracts/schemas from the models
	$(BIN)/python -m contracts.generate

bench: venv  ## every benchmark beside its target and the raw limits (prints and writes bench/results.md; long: a 10 M-event fill, a 1 M-event flood, restarts after 100 cohort-months)
	$(BIN)/python -m bench.run

up:  ## the production-like stack in Docker (Kafka KRaft, ClickHouse, Prometheus, Grafana, all services)
	docker compose up --build --detach
	@echo "  ingest http://localhost:8001  grafana http://localhost:3000  prometheus http://localhost:9090"

down:  ## stop the docker compose stack (volumes kept; `docker compose down -v` drops them)
	docker compose down

manifests: venv  ## regenerate KafkaTopics/KafkaUsers/PrometheusRule and the image locks (PyPI), check the CRDs, render both overlays
	$(BIN)/python -m deploy.generate
	$(BIN)/python -m deploy.lock
	$(BIN)/python -m deploy.crds --check
	$(BIN)/python -m deploy.kustomize deploy/k8s/overlays/prod > /dev/null
	$(BIN)/python -m deploy.kustomize deploy/k8s/overlays/dev > /dev/null

USERS ?= 200
DURATION ?= 60s
loadtest: venv  ## locust, headless, against `make run`'s stack; CSV + HTML reports in loadtests/reports/
	@mkdir -p loadtests/reports
	$(BIN)/locust -f loadtests/locustfile.py --headless -u $(USERS) -r 50 -t $(DURATION) \
		--host http://127.0.0.1:8001 --csv loadtests/reports/loadtest --html loadtests/reports/loadtest.html \
		--only-summary

clean:
	rm -rf $(VENV) .pytest_cache
