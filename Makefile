# Centrala: build, test and benchmark entry points.
#
#   make test    install the test peers when missing (deploy/test-deps.sh), go vet, go test -race
#   make run     run the server (go run ./cmd/centrala; configuration from CENTRALA_* env)
#   make bench   whole-server REGISTER benchmark against Kamailio (deploy/bench/register.sh)
#   make fmt     gofmt the tree

GO          ?= go
TEST_FLAGS  ?= -race -count=1 -timeout 40m
PKGS        ?= ./...

.PHONY: test deps vet run bench fmt

test: deps vet
	$(GO) test $(TEST_FLAGS) $(PKGS)

deps:
	./deploy/test-deps.sh

vet:
	$(GO) vet $(PKGS)

run:
	$(GO) run ./cmd/centrala

bench:
	./deploy/bench/register.sh

fmt:
	gofmt -s -w $$(git ls-files -co --exclude-standard -- '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')
