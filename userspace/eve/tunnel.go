package eve

import (
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// tunnel writes Suricata's tunnel object (output-json-alert.c's
// AlertJsonTunnel: the outer packet's addresses, ports and protocol, the
// decoding depth, its pcap_cnt and pkt_src) and our own fields: the
// tunnel's kind and its VNI, GRE key or ERSPAN session id. A flow's
// tunnel has its outer addresses lower first and no ports.
func (o *object) tunnel(t *event.Tunnel, pcapCnt uint64, compressIPv6 bool) {
	if t == nil {
		return
	}
	o.open("tunnel")
	o.ip("src_ip", t.Src.IP, compressIPv6)
	o.uint("src_port", uint64(t.Src.Port))
	o.ip("dest_ip", t.Dst.IP, compressIPv6)
	o.uint("dest_port", uint64(t.Dst.Port))
	o.key("proto")
	o.b = append(o.b, '"')
	o.b = appendProto(o.b, t.Proto)
	o.b = append(o.b, '"')
	o.uint("depth", uint64(t.Depth))
	if pcapCnt != 0 {
		o.uint("pcap_cnt", pcapCnt)
	}
	o.str("pkt_src", "wire/pcap")
	o.str("xdpsensor_type", string(t.Kind))
	if t.ID != 0 {
		o.uint("xdpsensor_id", uint64(t.ID))
	}
	o.close()
}
