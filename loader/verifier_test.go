package loader

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/xdpsensor/xdpsensor/loader/abi"
)

// verifierBudget is how many instructions the verifier may process for
// one program before this test fails. The kernel's limit is 1M, but
// verifying is also start-up time (`replay` of a small capture took 0.37 s
// at 502k, 0.18 s at 124k, 0.14 s at 32k): a feature that needs more
// splits its work into global functions, each verified once.
const verifierBudget = 80_000

var processedInsns = regexp.MustCompile(`processed (\d+) insns`)

// TestVerifierBudget loads both hooks with the verifier's statistics and
// logs what each program costs it (go test -v -run VerifierBudget ./loader).
func TestVerifierBudget(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("loads BPF programs: run as root (make test does)")
	}
	spec, err := abi.LoadBpf()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range spec.Maps {
		m.Pinning = ebpf.PinNone
	}
	if err := configureSpec(spec, (&Config{FlowTableSize: 1024, RingSize: 1 << 16}).withDefaults()); err != nil {
		t.Fatal(err)
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats},
	})
	if err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			t.Fatalf("loading: %s", lastLines(strings.Join(ve.Log, "\n"), 12))
		}
		t.Fatalf("loading: %+v", err)
	}
	defer coll.Close()
	for _, name := range []string{"xdpsensor", "xdpsensor_egress"} {
		log := coll.Programs[name].VerifierLog
		m := processedInsns.FindStringSubmatch(log)
		if m == nil {
			t.Fatalf("%s: no statistics in the verifier log:\n%s", name, lastLines(log, 5))
		}
		n, _ := strconv.Atoi(m[1])
		t.Logf("%s: processed %d insns (budget %d); %s", name, n, verifierBudget, lastLines(log, 1))
		if n > verifierBudget {
			t.Errorf("%s: the verifier processed %d instructions, over the budget of %d", name, n, verifierBudget)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
