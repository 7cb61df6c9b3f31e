# xdpsensor build, test and lab targets. Run `make help` for the list.
SHELL := /bin/bash
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo $$(uname -m)-linux-gnu)
export BPF2GO_CC := clang-19
export BPF2GO_STRIP := llvm-strip-19
export BPF2GO_CFLAGS := -O2 -g -Wall -Werror -I/usr/include/$(MULTIARCH)

.PHONY: generate
generate: ## rebuild the BPF object and its Go bindings (needs clang-19, libbpf-dev)
	cd loader && go generate ./...
