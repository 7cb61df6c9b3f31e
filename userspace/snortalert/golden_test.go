package snortalert

import (
	"regexp"
	"strings"
	"testing"
)

// The Snort source lines cited below are those of Snort 2.9.19
// (src/output-plugins/spo_alert_full.c, spo_alert_fast.c, src/log_text.c,
// src/log.c, src/util.c, src/signature.c); Snort 2.9.6.1 has the same
// format strings.

// seedFull is the alert_full record Snort writes for the first SYN of
// testdata/bot-cc-syn.pcap, derived from Snort's code. "·" marks each
// space the seed document (testdata/bot-cc.txt, which collapsed runs of
// spaces and dropped trailing ones) does not show, with where it comes
// from:
//
//	line 1: spo_alert_full.c:136 "[**] ", :140 "[%lu:%lu:%lu] ", :155 " [**]\n".
//	line 2: log_text.c:102 "[Classification: %s] " and :106
//	        "[Priority: %d] " — each with a trailing space, so the line ends
//	        in "] " — then :109 TextLog_NewLine (LogPriorityData(log, TRUE),
//	        spo_alert_full.c:165).
//	line 3: util.c:280 ts_print "%02d/%02d-%02d:%02d:%02d.%06u " ends in a
//	        space (spo_alert_full.c:173 LogTimeStamp), and LogIPHeader
//	        (spo_alert_full.c:184) starts straight with LogIpAddrs,
//	        log_text.c:594 "%s:%d -> %s:%d": one space, not two; then
//	        log_text.c:623 TextLog_NewLine (no -e).
//	line 4: log_text.c:630 "%s TTL:%u TOS:0x%X ID:%u IpLen:%u DgmLen:%u",
//	        :644 " DF", :649 TextLog_NewLine.
//	line 5: log.c:1176-1187 CreateTCPFlagString (log_text.c:893), then
//	        log_text.c:896 " Seq: 0x%lX··Ack: 0x%lX··Win: 0x%X··TcpLen: %d"
//	        — two spaces before Ack, Win and TcpLen — and :907 newline (no
//	        URG, so no UrgPtr, :903).
//	line 6: log_text.c:737 "TCP Options (%d) => ", :757 "MSS: " + :760
//	        "%u ", :772 "NOP " twice, :793 "SackOK " — every option ends in
//	        a space, so the line ends in "SackOK·" — and :869 newline.
//	line 7: no references (LogXrefs prints nothing, spo_alert_full.c:207),
//	        then spo_alert_full.c:209 TextLog_Putc('\n'): the blank line
//	        that ends every record.
const seedFull = "[**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**]\n" +
	"[Classification: A Network Trojan was detected] [Priority: 1] \n" +
	"02/21-10:17:54.366236 192.168.0.31:2253 -> 161.53.178.240:6667\n" +
	"TCP TTL:128 TOS:0x0 ID:13198 IpLen:20 DgmLen:48 DF\n" +
	"******S* Seq: 0xCA53141F  Ack: 0x0  Win: 0xFC00  TcpLen: 28\n" +
	"TCP Options (4) => MSS: 1460 NOP NOP SackOK \n" +
	"\n"

// seedDocument is the alert as testdata/bot-cc.txt shows it.
const seedDocument = `[**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**]
[Classification: A Network Trojan was detected] [Priority: 1]
02/21-10:17:54.366236 192.168.0.31:2253 -> 161.53.178.240:6667
TCP TTL:128 TOS:0x0 ID:13198 IpLen:20 DgmLen:48 DF
******S* Seq: 0xCA53141F Ack: 0x0 Win: 0xFC00 TcpLen: 28
TCP Options (4) => MSS: 1460 NOP NOP SackOK`

// seedFast is the alert_fast line for the same alert:
//
//	spo_alert_fast.c:157 LogTimeStamp — its trailing space — then :176
//	" [**] ": two spaces after the time; :181 "[%lu:%lu:%lu] "; :195
//	" [**] "; :206 LogPriorityData(log, 0): "[Classification: %s] "
//	"[Priority: %d] " without a newline; :210 "{%s} "; :211 LogIpAddrs;
//	:257 TextLog_NewLine.
const seedFast = "02/21-10:17:54.366236  [**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**] " +
	"[Classification: A Network Trojan was detected] [Priority: 1] {TCP} 192.168.0.31:2253 -> 161.53.178.240:6667\n"

var spaces = regexp.MustCompile(` +`)

// normalize collapses runs of spaces and drops trailing spaces and blank
// lines, as the seed document's rendering did.
func normalize(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(spaces.ReplaceAllString(l, " "), " ")
	}
	return strings.Join(lines, "\n")
}

func TestGoldenSeedFull(t *testing.T) {
	a := seedAlert(t)
	got := string(AppendFull(nil, a, Options{}))
	if got != seedFull {
		t.Errorf("alert_full:\n got %q\nwant %q", got, seedFull)
	}
	if n := normalize(got); n != seedDocument {
		t.Errorf("alert_full does not match the seed document once spaces are normalized:\n got:\n%s\nwant:\n%s", n, seedDocument)
	}
	// The seed document is the blog's `grep -A 5` of Snort's alert file:
	// check it is also exactly what is left of Snort's text once runs of
	// spaces are collapsed, so the golden string is not merely consistent
	// with it but derived from it.
	if normalize(seedFull) != seedDocument {
		t.Error("golden string and seed document differ beyond spacing")
	}
}

func TestGoldenSeedFast(t *testing.T) {
	a := seedAlert(t)
	if got := string(AppendFast(nil, a, Options{})); got != seedFast {
		t.Errorf("alert_fast:\n got %q\nwant %q", got, seedFast)
	}
}

// TestSeedPackets renders all three SYNs of the capture: they differ only
// in time and IP ID (13198, 13283, 13383 in the seed's tcpdump output).
func TestSeedPackets(t *testing.T) {
	frames, times := readPcap(t, "bot-cc-syn.pcap")
	if len(frames) != 3 {
		t.Fatalf("%d packets, want 3", len(frames))
	}
	for i, want := range []struct{ ts, id string }{
		{"02/21-10:17:54.366236 ", "ID:13198 "},
		{"02/21-10:17:57.287574 ", "ID:13283 "},
		{"02/21-10:18:03.306453 ", "ID:13383 "},
	} {
		a := alertFor(t, frames[i])
		a.Packet.Time = times[i]
		got := string(AppendFull(nil, a, Options{}))
		exp := strings.Replace(strings.Replace(seedFull, "02/21-10:17:54.366236 ", want.ts, 1), "ID:13198 ", want.id, 1)
		if got != exp {
			t.Errorf("packet %d:\n got %q\nwant %q", i, got, exp)
		}
	}
}

// TestBackscatterRST renders the RST of testdata/backscatter.pcap. The
// Sguil view in testdata/backscatter-detected.txt shows "urp=54297
// chksum=0", but the frame's urgent pointer is 0 and 54297 (0xD419) is its
// checksum: Sguil swapped the two. Either way Snort prints UrgPtr only
// when URG is set (log_text.c:901-908), and the RST has no URG.
func TestBackscatterRST(t *testing.T) {
	frames, times := readPcap(t, "backscatter.pcap")
	a := alertFor(t, frames[1])
	a.Packet.Time = times[1]
	a.Rule.References = []string{"url,www.shadowserver.org"}
	if a.Packet.UrgPtr != 0 {
		t.Fatalf("urgent pointer %d, want 0", a.Packet.UrgPtr)
	}
	want := "[**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**]\n" +
		"[Classification: A Network Trojan was detected] [Priority: 1] \n" +
		"03/20-18:04:19.731429 69.143.202.28:1024 -> 193.109.122.67:6667\n" +
		"TCP TTL:64 TOS:0x0 ID:2644 IpLen:20 DgmLen:40 DF\n" +
		"*****R** Seq: 0xAEE1C37D  Ack: 0x0  Win: 0x0  TcpLen: 20\n" +
		"[Xref => http://www.shadowserver.org]\n" +
		"\n"
	if got := string(AppendFull(nil, a, Options{})); got != want {
		t.Errorf("alert_full:\n got %q\nwant %q", got, want)
	}
	// The Sguil view's values: Seq=2934031229 (0xAEE1C37D), Win=0,
	// Flags=*****R**, ID=2644, ttl=64, dlen=40, sport 1024 -> 6667.
	wantFast := "03/20-18:04:19.731429  [**] [1:2404000:602] BLEEDING-EDGE DROP Known Bot C&C Server Traffic (group 1) [**] " +
		"[Classification: A Network Trojan was detected] [Priority: 1] {TCP} 69.143.202.28:1024 -> 193.109.122.67:6667\n"
	if got := string(AppendFast(nil, a, Options{})); got != wantFast {
		t.Errorf("alert_fast:\n got %q\nwant %q", got, wantFast)
	}

	// With URG set Snort adds "  UrgPtr: 0x%X" (log_text.c:903).
	a.Packet.TCPFlags |= 0x20
	a.Packet.UrgPtr = 54297
	got := string(AppendFull(nil, a, Options{}))
	if !strings.Contains(got, "**U**R** Seq: 0xAEE1C37D  Ack: 0x0  Win: 0x0  TcpLen: 20  UrgPtr: 0xD419\n") {
		t.Errorf("URG set: %q", got)
	}
}
