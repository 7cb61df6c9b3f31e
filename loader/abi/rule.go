package abi

import (
	"strings"
	"time"

	"github.com/xdpsensor/xdpsensor/userspace/blocklist"
)

// The threshold words of a rule and their kernel values, one table for
// both directions of the conversion.
var (
	thresholdTypes = map[string]BpfThresholdType{
		"limit":     BpfThresholdTypeTHRESHOLD_LIMIT,
		"threshold": BpfThresholdTypeTHRESHOLD_THRESHOLD,
		"both":      BpfThresholdTypeTHRESHOLD_BOTH,
	}
	thresholdTracks = map[string]BpfThresholdTrack{
		"by_src": BpfThresholdTrackTRACK_BY_SRC,
		"by_dst": BpfThresholdTrackTRACK_BY_DST,
	}
)

// KernelRule converts a rule for the kernel's rules map; an fwsam block
// time becomes an expiry counted from now (an indefinite block never
// expires).
func KernelRule(r blocklist.Rule, gen uint32, now time.Time) BpfRule {
	kr := BpfRule{
		Gid:        r.GID,
		Sid:        r.SID,
		Rev:        r.Rev,
		Priority:   r.Priority,
		Generation: gen,
		Direction:  uint8(r.Direction),
		OtherNet:   uint8(r.OtherNet),
	}
	if r.Threshold != nil {
		kr.ThresholdType = uint8(thresholdTypes[r.Threshold.Type])
		kr.ThresholdTrack = uint8(thresholdTracks[r.Threshold.Track])
		kr.ThresholdCount = r.Threshold.Count
		kr.ThresholdSeconds = r.Threshold.Seconds
	}
	kr.BlockSeconds = uint64(r.Block / time.Second)
	if r.Block > 0 && r.Block != blocklist.BlockIndefinite {
		kr.ExpiresUnix = uint64(now.Add(r.Block).Unix())
	}
	putCString(kr.Msg[:], r.Msg)
	putCString(kr.Classtype[:], r.Classtype)
	putCString(kr.References[:], strings.Join(r.References, "|"))
	putCString(kr.Source[:], r.Source)
	return kr
}

// RuleFromKernel converts a kernel rule back to the blocklist model.
func RuleFromKernel(kr *BpfRule) blocklist.Rule {
	r := blocklist.Rule{
		GID: kr.Gid, SID: kr.Sid, Rev: kr.Rev, Priority: kr.Priority,
		Msg: CString(kr.Msg[:]), Classtype: CString(kr.Classtype[:]),
		Direction: blocklist.Direction(kr.Direction), OtherNet: blocklist.NetVar(kr.OtherNet),
		Block: time.Duration(kr.BlockSeconds) * time.Second, Source: CString(kr.Source[:]),
	}
	if refs := CString(kr.References[:]); refs != "" {
		r.References = strings.Split(refs, "|")
	}
	if kr.ThresholdType != 0 {
		r.Threshold = &blocklist.Threshold{Type: wordOf(thresholdTypes, BpfThresholdType(kr.ThresholdType)),
			Track: wordOf(thresholdTracks, BpfThresholdTrack(kr.ThresholdTrack)),
			Count: kr.ThresholdCount, Seconds: kr.ThresholdSeconds}
	}
	return r
}

// wordOf finds the rule word of a kernel value, "" for none.
func wordOf[V comparable](words map[string]V, v V) string {
	for w, kv := range words {
		if kv == v {
			return w
		}
	}
	return ""
}
