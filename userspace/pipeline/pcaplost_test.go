package pipeline

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdpsensor/xdpsensor/loader"
)

// TestPcapFramesLostCounted replays 400 frames with capture of every
// frame into an output directory with room for about a tenth of them:
// every frame is either written or counted as lost (pcap_frames_lost),
// while the kernel handed over every one (capture_lost 0).
func TestPcapFramesLostCounted(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (make test runs as root)")
	}
	mnt := filepath.Join(t.TempDir(), "mnt")
	os.Mkdir(mnt, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "mode=0700,size=512k", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", mnt).Run() })
	os.WriteFile(filepath.Join(mnt, "filler"), make([]byte, 420<<10), 0o600)

	const n = 400
	segs := make([]segment, n)
	for i := range segs {
		segs[i] = segment{at: time.Duration(i) * time.Millisecond, src: "198.51.100.7", dst: "203.0.113.9",
			sport: 40000, dport: 8080, ack: true, psh: true, payload: string(make([]byte, 900))}
	}
	pcap := filepath.Join(t.TempDir(), "in.pcap")
	writeTCPCapture(t, pcap, segs)
	sum, err := Replay(context.Background(), Config{OutDir: filepath.Join(mnt, "out"), FlowTableSize: 1024, RingSize: 1 << 20,
		Capture: CaptureConfig{Mode: loader.CaptureAll}}, []string{pcap})
	t.Logf("replay: %v", err) // the outputs may fail to close on the full disk
	d := sum.Daemon
	if sum.Kernel.CapturePackets != n || sum.Kernel.CaptureLost != 0 {
		t.Fatalf("kernel handed over %d frames, lost %d; want %d, 0", sum.Kernel.CapturePackets, sum.Kernel.CaptureLost, n)
	}
	if d.PcapFramesLost == 0 || d.PcapFramesWritten+d.PcapFramesLost != n {
		t.Errorf("pcap_frames_written %d + pcap_frames_lost %d, want %d with some lost", d.PcapFramesWritten, d.PcapFramesLost, n)
	}
}

// TestReplayCaptureRingHoldsAWholeBatch: replay caps the capture ring
// (8 MB) because it drains it after every batch; a batch of the largest
// frames a batch takes, each captured, must fit whole.
func TestReplayCaptureRingHoldsAWholeBatch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root (make test runs as root)")
	}
	const n = 2*loader.FeedBatch + 100
	payload := string(make([]byte, loader.FeedFrameMax-14-20-20)) // Ethernet, IPv4, TCP
	segs := make([]segment, n)
	for i := range segs {
		segs[i] = segment{at: time.Duration(i) * time.Microsecond, src: "198.51.100.7", dst: "203.0.113.9",
			sport: 40000, dport: 8080, ack: true, psh: true, payload: payload}
	}
	pcap := filepath.Join(t.TempDir(), "in.pcap")
	writeTCPCapture(t, pcap, segs)
	sum, err := Replay(context.Background(), Config{OutDir: filepath.Join(t.TempDir(), "out"), FlowTableSize: 1024, RingSize: 1 << 20,
		Capture: CaptureConfig{Mode: loader.CaptureAll, RingSize: 64 << 20}}, []string{pcap})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if sum.Kernel.CapturePackets != n || sum.Kernel.CaptureLost != 0 || sum.Daemon.PcapFramesWritten != n {
		t.Errorf("kernel handed over %d frames, lost %d, %d written; want %d, 0, %d",
			sum.Kernel.CapturePackets, sum.Kernel.CaptureLost, sum.Daemon.PcapFramesWritten, n, n)
	}
}
