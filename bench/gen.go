// Package bench measures xdpsensor against floors (programs that do the
// least a path can) and against the peers an analyst would pick instead.
package bench

// BPF2GO_CC and BPF2GO_CFLAGS come from the Makefile (`make generate`).
//go:generate go tool bpf2go -target bpfel -output-stem floors Floors bpf/floors.c -- -I../bpf
//go:generate go tool bpf2go -target bpfel -output-stem gen Gen bpf/gen.c -- -I../bpf
