package blocklist

import (
	"testing"
	"time"
)

func TestParseFwsam(t *testing.T) {
	const day = 24 * time.Hour
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"dst, 30 days", 30 * day},
		{"src, 1 day", day},
		{"src", FwsamDefaultBlock},
		{"dst", 5 * time.Minute},
		{"src[either],15min", 15 * time.Minute},
		{"src{either}, 15 min", 15 * time.Minute},
		{"dst[in], 2 days 4 hours", 2*day + 4*time.Hour},
		{"dst[in], 2days4hours", 2*day + 4*time.Hour},
		{"15 minutes", 15 * time.Minute},
		{"3600", time.Hour},
		{"dst, 3600", time.Hour},
		{"dst, 90 seconds", 90 * time.Second},
		{"dst, 1 second", time.Second},
		{"dst, 1 sec", time.Second},
		{"dst, 2 hours", 2 * time.Hour},
		{"dst, 1 hr", time.Hour},
		{"dst, 1 week", 7 * day},
		{"dst, 3 weeks", 21 * day},
		{"dst, 1 month", 30 * day},
		{"dst, 6 months", 180 * day},
		{"dst, 1 year", 365 * day},
		{"dst, 2 YEARS", 730 * day},
		{"destination[both], 5 Minutes", 5 * time.Minute},
		{"source[conn], 10 s", 10 * time.Second},
		{"src, permanent", BlockIndefinite},
		{"src, PERM", BlockIndefinite},
		{"src, infinite", BlockIndefinite},
		{"src, forever", BlockIndefinite},
		{"src, always", BlockIndefinite},
		{"src, 0", BlockIndefinite},
		{"0", BlockIndefinite},
		{"permanent", BlockIndefinite},
	}
	for _, tt := range tests {
		got, reason := parseFwsam(tt.in)
		if reason != "" || got != tt.want {
			t.Errorf("parseFwsam(%q) = %v, %q; want %v", tt.in, got, reason, tt.want)
		}
	}
	if BlockIndefinite.Seconds() < 200*365*24*3600 {
		t.Errorf("BlockIndefinite is only %v", BlockIndefinite)
	}
}

func TestParseFwsamErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "needs who (src or dst) and a duration"},
		{"nobody, 1 day", `who "nobody" is not src or dst`},
		{"src[sideways], 1 day", `how "sideways" is not in, out, either, both, this or conn`},
		{"src[either, 1 day", `"src[either": unclosed "["`},
		{"src,", "missing duration after the comma"},
		{"src, 30 fortnights", `duration "30 fortnights": unknown unit "fortnights" (want seconds, minutes, hours, days, weeks, months or years)`},
		{"src, days", `duration "days": expected a number at "days"`},
		{"src, 1 day, 2 hours", `duration "1 day, 2 hours": expected a number at ", 2 hours"`},
		{"src, 999999999999 years", `duration "999999999999 years" is too long`},
		{"src, 99999999999999999999", `duration "99999999999999999999" is too long`},
	}
	for _, tt := range tests {
		got, reason := parseFwsam(tt.in)
		if reason != tt.want || got != 0 {
			t.Errorf("parseFwsam(%q) = %v, %q; want error %q", tt.in, got, reason, tt.want)
		}
	}
}
