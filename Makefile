# learnstream — developer and CI entry points.
#
#   make test        everything CI runs: gofmt, go vet, staticcheck, then go test
#                    against a real Apache Kafka broker (KRaft) and chDB; installs
#                    what it needs into .cache/ on first use
#   make lint        gofmt, go vet, staticcheck only
#   make serve       run learnstream locally (embedded broker, ./data)
#   make conformance ADL's xAPI LRS conformance suite against a fresh server
#                    (CONFORMANCE_VERSIONS="1.0.3 2.0.0"; needs node and npm)
#   make bench       go test benchmarks (BENCH=regexp, BENCHTIME=1s, BENCH_PKGS=./...)
#   make bench-lrs   ingest side by side: learnstream, --roles api, Ralph, a bare
#                    net/http floor (bench/lrs/run.sh; DURATION=20s per run)
#   make kafka-up    start a test broker; prints the export line for LEARNSTREAM_KAFKA_BROKERS
#   make kafka-down  stop it
#   make python      create .cache/venv with chDB (LEARNSTREAM_CHDB_PYTHON)
#   make compose-check  validate docker-compose.yml (no Docker needed: .ci/composecheck)
#   make asyncapi-parser  install @asyncapi/parser into .cache/asyncapi (the AsyncAPI
#                    document test runs it with node)
#
# Variables: RACE_PKGS (tested with -race; the rest of ./... without), TEST_TIMEOUT,
# GOTESTFLAGS (e.g. make test GOTESTFLAGS='-run TestX -v'), STATICCHECK_VERSION.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test
.ONESHELL:

GO                  ?= go
RACE_PKGS           ?= ./streams/... ./projections/... ./api/...
TEST_TIMEOUT        ?= 20m
GOTESTFLAGS         ?=
# staticcheck 2026.2.2; built with the local Go (1.26)
STATICCHECK_VERSION ?= v0.8.2
BENCH               ?= .
BENCHTIME           ?= 1s
BENCH_PKGS          ?= ./...
SERVE_FLAGS         ?= --dev

export GO RACE_PKGS TEST_TIMEOUT GOTESTFLAGS STATICCHECK_VERSION

.PHONY: player-assets test lint tools conformance serve bench bench-lrs kafka-up kafka-down kafka-status python compose-check clean-cache asyncapi-parser

# The SCORM run-time (scorm-again, MIT) embedded in the binary: fetched
# once into .cache, copied into api/player/assets.
SCORM_AGAIN_VERSION ?= 3.4.3
player-assets: api/player/assets/scorm-again.min.js

api/player/assets/scorm-again.min.js:
	mkdir -p .cache/npm
	test -f .cache/npm/scorm-again-$(SCORM_AGAIN_VERSION).tgz || npm pack --silent --cache .cache/npm/cache --pack-destination .cache/npm scorm-again@$(SCORM_AGAIN_VERSION)
	tar -xzf .cache/npm/scorm-again-$(SCORM_AGAIN_VERSION).tgz -C .cache/npm package/dist/scorm-again.min.js
	cp .cache/npm/package/dist/scorm-again.min.js $@

# The official AsyncAPI parser, which TestAsyncAPIPassesTheOfficialParser
# runs on /asyncapi.json.
ASYNCAPI_PARSER_VERSION ?= 3.6.6
asyncapi-parser:
	mkdir -p .cache/asyncapi
	test -d .cache/asyncapi/node_modules/@asyncapi/parser || npm install --silent --no-audit --no-fund --prefix .cache/asyncapi @asyncapi/parser@$(ASYNCAPI_PARSER_VERSION)

test:
	bash .ci/test.sh test

lint:
	bash .ci/test.sh lint

tools:
	bash .ci/test.sh tools

conformance:
	bash .ci/conformance.sh run

serve:
	$(GO) run ./cmd/learnstream serve $(SERVE_FLAGS)

bench:
	$(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -benchtime '$(BENCHTIME)' $(BENCH_PKGS)

bench-lrs:
	bash bench/lrs/run.sh

kafka-up:
	@boot="$$(bash .ci/kafka.sh start)"
	echo "export LEARNSTREAM_KAFKA_BROKERS=$$boot"

kafka-down:
	bash .ci/kafka.sh stop

kafka-status:
	bash .ci/kafka.sh status

python:
	bash .ci/python.sh

compose-check:
	bash .ci/test.sh compose

clean-cache:
	bash .ci/kafka.sh stop || true
	rm -rf .cache
