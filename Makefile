# Bulwark build and checks. `make check` is what CI runs (plus the
# PostgreSQL suite, enabled by BULWARK_TEST_POSTGRES_URL).
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
LINT_VERSION := v2.15.0
GOBIN    := $(shell $(GO) env GOPATH)/bin
LINT     := $(GOBIN)/golangci-lint

.PHONY: build run test lint vet fmt generate check tools bench-proxy bench-mcp

build: ## Build bin/bulwark
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/bulwark ./cmd/bulwark

run: ## Run the gateway with SQLite in ./data
	$(GO) run ./cmd/bulwark serve

test: ## Run every test with the race detector
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt: ## Fail when a file is not gofmt-formatted
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

tools: ## Install the pinned golangci-lint
	@$(LINT) version 2>/dev/null | grep -q "$(patsubst v%,%,$(LINT_VERSION))" || \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(LINT_VERSION)

lint: tools ## Run golangci-lint
	$(LINT) run ./...

generate: ## Regenerate docs/openapi.json from the code
	$(GO) run ./cmd/bulwark openapi > docs/openapi.json.tmp && mv docs/openapi.json.tmp docs/openapi.json

check: fmt vet lint test ## Everything CI checks

bench-proxy: ## Proxy overhead vs a direct call and a bare reverse proxy (issue #5; ~2 min)
	@ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -H -n)"; echo "open files limit: $$(ulimit -n)"; $(GO) run ./test/benchproxy $(BENCH_FLAGS)

bench-mcp: ## MCP proxy overhead vs a direct call and a bare reverse proxy, 200 concurrent sessions (~30 s)
	@ulimit -n 65536 2>/dev/null || ulimit -n "$$(ulimit -H -n)"; $(GO) run ./test/benchmcp $(BENCH_FLAGS)

# --- Web console (web/): Node 20.19+ and npm; the built web/dist is committed.
.PHONY: web web-check test-browser

web: ## Rebuild the console into web/dist
	cd web && npm ci --no-audit --no-fund && npm run build

web-check: web ## Fail when the committed web/dist is not what the sources build
	@git diff --exit-code --stat -- web/dist && \
	test -z "$$(git ls-files --others --exclude-standard web/dist)" || \
	{ echo "web/dist is stale or not deterministic: run make web and commit web/dist"; exit 1; }

test-browser: ## Drive the console in Debian chromium (apt-get install chromium)
	@test -d web/node_modules || (cd web && npm ci --no-audit --no-fund)
	cd web && npm run test:browser
