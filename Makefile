# xdpsensor: `make demo` runs the sensor on the built-in lab, `make test`
# runs every test. Both install what they need and re-run as root.
SHELL := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo $$(uname -m)-linux-gnu)
export BPF2GO_CC := clang-19
export BPF2GO_STRIP := llvm-strip-19
export BPF2GO_CFLAGS := -O2 -g -mcpu=v3 -Wall -Werror -I/usr/include/$(MULTIARCH)
GO_TEST_FLAGS ?= -count=1 -timeout 15m

.PHONY: help deps build demo test test-as-root check generate check-generate bench install

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 18

deps: ## install Debian packages and Go (as root; only what is missing)
	@scripts/bootstrap.sh

build: ## build bin/xdpsensor (no clang needed: the BPF object is committed)
	go build -o bin/xdpsensor ./cmd/xdpsensor

demo: deps build ## the sensor on the netns lab: C&C attempt and backscatter, live
	@scripts/as-root.sh scripts/demo.sh

test: deps ## every test: vet, gofmt, generated code, kernel and lab tests
	@scripts/as-root.sh $(MAKE) --no-print-directory test-as-root

test-as-root: check
	go test $(GO_TEST_FLAGS) ./...
	scripts/lab_test.sh
	scripts/systemd_test.sh

check: check-generate ## static checks: gofmt, go vet, go mod tidy, staticcheck, shellcheck, generated code up to date
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '_bpfel.go$$')); \
		if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi
	go vet ./...
	go mod tidy -diff
	go tool staticcheck ./...
	shellcheck scripts/*.sh .ci/run

install: build ## binary, systemd unit, sample config, logrotate (DESTDIR=, PREFIX=)
	@if [ -n "$(DESTDIR)" ]; then DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" scripts/install.sh; \
	else scripts/as-root.sh env PREFIX="$(PREFIX)" scripts/install.sh; fi

generate: ## rebuild the BPF object and its Go bindings (clang-19, libbpf-dev)
	cd loader/abi && go generate ./...
	cd bench && go generate ./...

check-generate: generate ## fail when the committed BPF object is stale
	@git diff --exit-code --stat -- loader/abi/xdpsensor_bpfel.go loader/abi/xdpsensor_bpfel.o loader/abi/replay_feed_bpfel.go loader/abi/replay_feed_bpfel.o bench/floors_bpfel.go bench/floors_bpfel.o bench/gen_bpfel.go bench/gen_bpfel.o || { echo "make generate changed the committed files; commit them"; exit 1; }

bench: deps ## benchmarks (root): one markdown table, also written to BENCHMARKS.md
	@scripts/as-root.sh scripts/bench.sh
