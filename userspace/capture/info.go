package capture

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// FileInfo is what capinfos says about a capture file.
type FileInfo struct {
	Path          string
	Format        string // "pcap" or "pcapng"
	FileType      string // capinfos' words: "Wireshark/tcpdump/... - pcap"
	Encapsulation string // "Ethernet", … or "Per packet" when interfaces differ
	LinkTypes     []layers.LinkType
	Precision     int    // timestamp digits after the second: 6 or 9
	SnapLen       uint32 // pcap file header (pcapng: 0)
	Packets       int64
	FileSize      int64 // bytes
	DataSize      int64 // sum of the packets' captured lengths
	First, Last   time.Time
	StrictOrder   bool // every packet at or after the one before
	Truncated     bool // the file ends in the middle of a packet
	Interfaces    []InterfaceInfo
}

// InterfaceInfo describes a pcapng interface.
type InterfaceInfo struct {
	Name       string
	LinkType   layers.LinkType
	SnapLen    uint32
	Precision  int
	Packets    int64
	StatBlocks int    // interface statistics blocks read
	Dropped    uint64 // isb_ifdrop of the last statistics block
	HasDropped bool
}

// Duration is the time from the first packet to the last.
func (fi *FileInfo) Duration() time.Duration {
	if fi.Packets == 0 {
		return 0
	}
	return fi.Last.Sub(fi.First)
}

// Info reads a pcap or pcapng file (any link type) and sums it up like
// capinfos. A file that ends in the middle of a packet is described up to
// its last complete packet, with Truncated set.
func Info(path string) (*FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	fi := &FileInfo{Path: path, FileSize: st.Size(), StrictOrder: true}
	h, err := readFileHeader(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	br := bufio.NewReaderSize(f, 1<<20)
	var next func() ([]byte, gopacket.CaptureInfo, error)
	var ng *pcapgo.NgReader
	stats := map[int]pcapgo.NgInterfaceStatistics{}
	statBlocks := map[int]int{}
	if h.ng {
		fi.Format, fi.FileType = "pcapng", "Wireshark/... - pcapng"
		ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{
			WantMixedLinkType: true,
			StatisticsCallback: func(id int, s pcapgo.NgInterfaceStatistics) {
				stats[id] = s
				statBlocks[id]++
			},
		})
		if err != nil {
			return nil, fmt.Errorf("%s: reading pcapng: %w", path, err)
		}
		next = ng.ZeroCopyReadPacketData
	} else {
		pr, err := pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: not a pcap or pcapng file: %w", path, err)
		}
		fi.Format, fi.FileType = "pcap", "Wireshark/tcpdump/... - pcap"
		fi.Precision, fi.SnapLen = 6, pr.Snaplen()
		if h.nanos {
			fi.FileType, fi.Precision = "Wireshark/tcpdump/... - nanosecond pcap", 9
		}
		fi.LinkTypes = []layers.LinkType{pr.LinkType()}
		next = pr.ZeroCopyReadPacketData
	}
	perIface := map[int]int64{}
	var prev time.Time
	for {
		data, ci, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			fi.Truncated = true
			break
		}
		if err != nil {
			return fi, fmt.Errorf("%s: packet %d: %w", path, fi.Packets+1, err)
		}
		t := ci.Timestamp
		if fi.Packets == 0 {
			fi.First, fi.Last = t, t
		} else {
			if t.Before(prev) {
				fi.StrictOrder = false
			}
			if t.Before(fi.First) {
				fi.First = t
			}
			if t.After(fi.Last) {
				fi.Last = t
			}
		}
		prev = t
		fi.Packets++
		fi.DataSize += int64(len(data))
		perIface[ci.InterfaceIndex]++
	}
	if ng != nil {
		for i := 0; i < ng.NInterfaces(); i++ {
			intf, _ := ng.Interface(i)
			ii := InterfaceInfo{Name: intf.Name, LinkType: intf.LinkType, SnapLen: intf.SnapLength,
				Precision: resolutionDigits(intf.Resolution()), Packets: perIface[i], StatBlocks: statBlocks[i]}
			if s, ok := stats[i]; ok && s.PacketsDropped != pcapgo.NgNoValue64 {
				ii.Dropped, ii.HasDropped = s.PacketsDropped, true
			}
			fi.Interfaces = append(fi.Interfaces, ii)
			fi.Precision = max(fi.Precision, ii.Precision)
			if !containsLinkType(fi.LinkTypes, intf.LinkType) {
				fi.LinkTypes = append(fi.LinkTypes, intf.LinkType)
			}
		}
	}
	switch len(fi.LinkTypes) {
	case 0:
		fi.Encapsulation = "Unknown"
	case 1:
		fi.Encapsulation = EncapsulationName(fi.LinkTypes[0])
	default:
		fi.Encapsulation = "Per packet"
	}
	return fi, nil
}

func containsLinkType(l []layers.LinkType, lt layers.LinkType) bool {
	for _, x := range l {
		if x == lt {
			return true
		}
	}
	return false
}

// resolutionDigits is capinfos' "Time precision": decimal digits.
func resolutionDigits(r gopacket.TimestampResolution) int {
	if r.Base == 10 {
		return -r.Exponent
	}
	// 2^-n: the decimal digits that resolve it
	return int(math.Ceil(float64(-r.Exponent) * math.Log10(2)))
}

// EncapsulationName is Wireshark's name of a link type.
func EncapsulationName(lt layers.LinkType) string {
	switch lt {
	case layers.LinkTypeEthernet:
		return "Ethernet"
	case layers.LinkTypeRaw, layers.LinkType(12):
		return "Raw IP"
	case layers.LinkTypeIPv4:
		return "Raw IPv4"
	case layers.LinkTypeIPv6:
		return "Raw IPv6"
	case layers.LinkTypeNull:
		return "NULL/Loopback"
	case layers.LinkTypeLoop:
		return "OpenBSD loopback"
	case layers.LinkTypeLinuxSLL:
		return "Linux cooked-mode capture v1"
	case layers.LinkType(276):
		return "Linux cooked-mode capture v2"
	case layers.LinkTypeIEEE802_11:
		return "IEEE 802.11 Wireless LAN"
	case layers.LinkTypeIEEE80211Radio:
		return "IEEE 802.11 plus radiotap radio header"
	case layers.LinkTypePPP:
		return "PPP"
	}
	return fmt.Sprintf("%s (link type %d)", lt, int(lt))
}

func precisionName(digits int) string {
	switch digits {
	case 0:
		return "seconds (0)"
	case 3:
		return "milliseconds (3)"
	case 6:
		return "microseconds (6)"
	case 9:
		return "nanoseconds (9)"
	}
	return fmt.Sprintf("%d digits", digits)
}

// WriteText writes fi as capinfos prints it (its default layout), with
// exact numbers: rates with two decimals instead of capinfos' SI-rounded
// integers, the duration to the file's timestamp precision. Packet times
// are shown in loc (capinfos uses the local time zone).
func (fi *FileInfo) WriteText(w io.Writer, loc *time.Location) error {
	var b strings.Builder
	line := func(label, format string, args ...any) {
		fmt.Fprintf(&b, "%-21s"+format+"\n", append([]any{label}, args...)...)
	}
	prec := fi.Precision
	if prec < 6 {
		prec = 6
	}
	line("File name:", "%s", fi.Path)
	line("File type:", "%s", fi.FileType)
	line("File encapsulation:", "%s", fi.Encapsulation)
	fmt.Fprintf(&b, "File timestamp precision:  %s\n", precisionName(fi.Precision))
	if fi.Format == "pcap" {
		line("Packet size limit:", "file hdr: %d bytes", fi.SnapLen)
	}
	line("Number of packets:", "%d", fi.Packets)
	line("File size:", "%d bytes", fi.FileSize)
	line("Data size:", "%d bytes", fi.DataSize)
	if fi.Packets > 0 {
		d := fi.Duration()
		line("Capture duration:", "%s seconds", formatSeconds(d, prec))
		tf := "2006-01-02 15:04:05." + strings.Repeat("0", prec)
		line("First packet time:", "%s", fi.First.In(loc).Format(tf))
		line("Last packet time:", "%s", fi.Last.In(loc).Format(tf))
		secs := d.Seconds()
		if fi.Packets > 1 && secs > 0 {
			line("Data byte rate:", "%.2f bytes/s", float64(fi.DataSize)/secs)
			line("Data bit rate:", "%.2f bits/s", float64(fi.DataSize)*8/secs)
		} else {
			line("Data byte rate:", "n/a")
			line("Data bit rate:", "n/a")
		}
		line("Average packet size:", "%.2f bytes", float64(fi.DataSize)/float64(fi.Packets))
		if fi.Packets > 1 && secs > 0 {
			line("Average packet rate:", "%.2f packets/s", float64(fi.Packets)/secs)
		} else {
			line("Average packet rate:", "n/a")
		}
	} else {
		line("Capture duration:", "n/a")
		line("First packet time:", "n/a")
		line("Last packet time:", "n/a")
		line("Data byte rate:", "n/a")
		line("Data bit rate:", "n/a")
		line("Average packet size:", "n/a")
		line("Average packet rate:", "n/a")
	}
	line("Strict time order:", "%s", map[bool]string{true: "True", false: "False"}[fi.StrictOrder])
	if fi.Format == "pcapng" {
		fmt.Fprintf(&b, "Number of interfaces in file: %d\n", len(fi.Interfaces))
		for i, intf := range fi.Interfaces {
			fmt.Fprintf(&b, "Interface #%d info:\n", i)
			pad := strings.Repeat(" ", 21)
			if intf.Name != "" {
				fmt.Fprintf(&b, "%sName = %s\n", pad, intf.Name)
			}
			fmt.Fprintf(&b, "%sEncapsulation = %s (%d)\n", pad, EncapsulationName(intf.LinkType), int(intf.LinkType))
			fmt.Fprintf(&b, "%sCapture length = %d\n", pad, intf.SnapLen)
			fmt.Fprintf(&b, "%sTime precision = %s\n", pad, precisionName(intf.Precision))
			fmt.Fprintf(&b, "%sNumber of stat entries = %d\n", pad, intf.StatBlocks)
			if intf.HasDropped {
				fmt.Fprintf(&b, "%sDropped packets = %d\n", pad, intf.Dropped)
			}
			fmt.Fprintf(&b, "%sNumber of packets = %d\n", pad, intf.Packets)
		}
	}
	if fi.Truncated {
		fmt.Fprintf(&b, "Note: the file ends in the middle of a packet; the numbers are for the %d complete packets.\n", fi.Packets)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// formatSeconds writes d in seconds with digits decimals.
func formatSeconds(d time.Duration, digits int) string {
	neg := d < 0
	if neg {
		d = -d
	}
	ns := int64(d)
	frac := ns % int64(time.Second)
	for i := 9; i > digits; i-- {
		frac /= 10
	}
	s := fmt.Sprintf("%d.%0*d", ns/int64(time.Second), digits, frac)
	if neg {
		s = "-" + s
	}
	return s
}
