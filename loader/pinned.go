package loader

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
	"github.com/xdpsensor/xdpsensor/loader/sidecar"
)

// OpenPinned opens the maps a running sensor pinned under dir, for the CLI.
func OpenPinned(dir string) (*abi.BpfMaps, error) {
	if err := CheckPrivileges(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "config")); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no sensor maps are pinned under %s: start one with `xdpsensor run` (or pass --pin-dir)", dir)
		}
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	spec, err := abi.Spec()
	if err != nil {
		return nil, fmt.Errorf("reading embedded BPF object: %w", err)
	}
	var maps abi.BpfMaps
	opened := map[string]*ebpf.Map{}
	for name := range spec.Maps {
		if spec.Maps[name].Pinning != ebpf.PinByName {
			continue
		}
		m, err := ebpf.LoadPinnedMap(filepath.Join(dir, name), nil)
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return nil, fmt.Errorf("opening pinned map %s: %w", name, err)
		}
		opened[name] = m
		// Another build's layout would read as "buffer too small" or,
		// worse, as wrong numbers: say what it is.
		err = layoutCompatible(spec.Maps[name], m)
		if inner := spec.Maps[name].InnerMap; err == nil && inner != nil {
			_, _, err = innerLayout(inner, m)
		}
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return nil, fmt.Errorf("pinned map %s under %s does not fit this build (%w): the sensor pinned there runs another xdpsensor build; use that build's CLI, or restart `xdpsensor run` with this one",
				name, dir, err)
		}
	}
	if err := assignMaps(&maps, opened); err != nil {
		for _, o := range opened {
			o.Close()
		}
		return nil, err
	}
	return &maps, nil
}

// assignMaps fills abi.BpfMaps through its `ebpf:"name"` struct tags, as
// LoadAndAssign does, so a new map needs no change here.
func assignMaps(maps *abi.BpfMaps, opened map[string]*ebpf.Map) error {
	v := reflect.ValueOf(maps).Elem()
	for i := 0; i < v.NumField(); i++ {
		name := v.Type().Field(i).Tag.Get("ebpf")
		if name == "" || v.Field(i).Type() != reflect.TypeOf((*ebpf.Map)(nil)) {
			continue
		}
		m, ok := opened[name]
		if !ok {
			continue // not pinned: internal scratch maps
		}
		v.Field(i).Set(reflect.ValueOf(m))
	}
	return nil
}

// Unpin removes every object the sensor pinned under dir (and the
// blocklist's entry sources kept for it).
func Unpin(dir string) error {
	if path, ok := sidecar.Path(dir, "sources"); ok {
		os.Remove(path)
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}
