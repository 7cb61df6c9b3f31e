package eve

import (
	"github.com/xdpsensor/xdpsensor/userspace/event"
)

// appendTunnel writes Suricata's tunnel object (output-json-alert.c's
// AlertJsonTunnel: the outer packet's addresses, ports and protocol, the
// decoding depth, its pcap_cnt and pkt_src) and our own fields: the
// tunnel's kind and its VNI, GRE key or ERSPAN session id. A flow's
// tunnel has its outer addresses lower first and no ports.
func appendTunnel(b []byte, t *event.Tunnel, pcapCnt uint64, compressIPv6 bool) []byte {
	if t == nil {
		return b
	}
	b = append(b, `,"tunnel":{"src_ip":"`...)
	b = appendAddr(b, t.Src.IP, compressIPv6)
	b = appendUintMember(b, `","src_port":`, uint64(t.Src.Port))
	b = append(b, `,"dest_ip":"`...)
	b = appendAddr(b, t.Dst.IP, compressIPv6)
	b = appendUintMember(b, `","dest_port":`, uint64(t.Dst.Port))
	b = append(b, `,"proto":"`...)
	b = appendProto(b, t.Proto)
	b = appendUintMember(b, `","depth":`, uint64(t.Depth))
	if pcapCnt != 0 {
		b = appendUintMember(b, `,"pcap_cnt":`, pcapCnt)
	}
	b = append(b, `,"pkt_src":"wire/pcap","xdpsensor_type":`...)
	b = appendString(b, string(t.Kind))
	if t.ID != 0 {
		b = appendUintMember(b, `,"xdpsensor_id":`, uint64(t.ID))
	}
	return append(b, '}')
}
