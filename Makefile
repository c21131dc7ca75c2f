# anther: two commands to get going on a fresh Debian 12 machine.
#   make run   — the daemon on the simulated Reachy Mini, HTTP API on 127.0.0.1:8080
#   make test  — install what is missing, vet, and run every test
GO      ?= go
BIN     := bin/anther
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# -p 1: packages one at a time, so the pty and real-time tests of one
# package do not compete for the 2 CI cores with another package's builds.
TESTFLAGS ?= -count=1 -timeout 30m -p 1

.PHONY: deps build run test vet bench fuzz clean

deps:
	@scripts/deps.sh

build: deps
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/anther

run: build
	$(BIN) run --robot reachy-mini --sim --listen 127.0.0.1:8080

vet: deps
	$(GO) vet ./...

test: vet
	@race=$$(scripts/test-packages.sh | awk '$$1=="race"{print $$2}'); \
	plain=$$(scripts/test-packages.sh | awk '$$1=="plain"{print $$2}'); \
	set -e; \
	if [ -n "$$race" ]; then echo "go test -race (pure Go packages)"; $(GO) test -race $(TESTFLAGS) $$race; fi; \
	if [ -n "$$plain" ]; then echo "go test (cgo packages)"; $(GO) test $(TESTFLAGS) $$plain; fi

bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./control ./drivers/...

clean:
	rm -rf bin
