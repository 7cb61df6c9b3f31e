package eve

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// An alert on a packet that came through VXLAN carries Suricata's tunnel
// object after the alert object, and says which layer matched; a flow
// record carries its tunnel after community_id. Both pass the schemas.
func TestTunnelObject(t *testing.T) {
	a := seedAlert()
	a.Packet.PcapCnt = 7
	a.Tunnel = &event.Tunnel{Kind: event.TunnelVXLAN, Proto: event.ProtoUDP, ID: 1001, Depth: 1,
		Src: event.Endpoint{IP: netip.MustParseAddr("198.51.100.1"), Port: 51000},
		Dst: event.Endpoint{IP: netip.MustParseAddr("198.51.100.2"), Port: 4789}}
	a.Layer = event.LayerInner
	line := encodeLine(t, Options{}, a, nil)
	wantTunnel := `"tunnel":{"src_ip":"198.51.100.1","src_port":51000,"dest_ip":"198.51.100.2","dest_port":4789,"proto":"UDP","depth":1,"pcap_cnt":7,"pkt_src":"wire/pcap","xdpsensor_type":"vxlan","xdpsensor_id":1001}`
	if !bytes.Contains(line, []byte(`"references":["https://www.shadowserver.org"]},`+wantTunnel+`,"direction":`)) {
		t.Errorf("alert lacks the tunnel object after alert:\n%s\nwant %s", line, wantTunnel)
	}
	if !bytes.Contains(line, []byte(`"xdpsensor_layer":"inner"`)) {
		t.Errorf("alert does not say the inner layer matched:\n%s", line)
	}

	f := seedFlow()
	f.Tunnel = &event.Tunnel{Kind: event.TunnelGRE, Proto: 47, ID: 42, Depth: 1,
		Src: event.Endpoint{IP: netip.MustParseAddr("198.51.100.1")}, Dst: event.Endpoint{IP: netip.MustParseAddr("198.51.100.2")}}
	fline := encodeLine(t, Options{}, nil, f)
	wantFlow := `"tunnel":{"src_ip":"198.51.100.1","src_port":0,"dest_ip":"198.51.100.2","dest_port":0,"proto":"GRE","depth":1,"pkt_src":"wire/pcap","xdpsensor_type":"gre","xdpsensor_id":42}`
	if !bytes.Contains(fline, []byte(wantFlow)) {
		t.Errorf("flow lacks its tunnel:\n%s\nwant %s", fline, wantFlow)
	}

	subset := compileSchema(t, "testdata/eve-subset.schema.json")
	sur := suricataSchema(t)
	validate(t, subset, sur, line)
	validate(t, subset, sur, fline)
}
