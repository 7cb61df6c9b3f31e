package console

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Live updates of the alert list: server-sent events carrying the table
// body (rendered by the same template as the page, so escaped the same
// way) whenever eve.json gains records, and the health panel now and then.
const (
	liveCoalesce  = 300 * time.Millisecond // a burst of records makes one update
	liveHealth    = 5 * time.Second
	liveKeepalive = 20 * time.Second
)

func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		http.Error(w, "too many live views open", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	f, form := alertFilter(r.URL.Query(), time.Now())
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	// writeEvent frames rendered HTML as one SSE event, a data: line a line.
	out := &bytes.Buffer{}
	writeEvent := func(name string, body []byte) {
		fmt.Fprintf(out, "event: %s\n", name)
		for _, line := range strings.Split(string(body), "\n") {
			fmt.Fprintf(out, "data: %s\n", line)
		}
		out.WriteString("\n")
	}

	// The counts each row had when last sent: rows that changed are marked fresh.
	sent := map[any]int{} // by group, or by alert for one row an alert
	first := true
	sendRows := func() error {
		groups, total := s.index.AlertRows(f, form.Single, rowLimit)
		fresh := map[*Alert]bool{}
		next := make(map[any]int, len(groups))
		for _, g := range groups {
			var k any = keyOf(g.Latest)
			if form.Single {
				k = g.Latest
			}
			if !first && sent[k] != g.Count {
				fresh[g.Latest] = true
			}
			next[k] = g.Count
		}
		sent, first = next, false
		var buf bytes.Buffer
		if err := s.pages.byName["alerts"].ExecuteTemplate(&buf, "rows", rowsView{Groups: groups, Fresh: fresh, Total: total, Single: form.Single}); err != nil {
			return err
		}
		writeEvent("rows", buf.Bytes())
		return nil
	}
	sendHealth := func() error {
		var buf bytes.Buffer
		if err := s.pages.byName["alerts"].ExecuteTemplate(&buf, "health", s.health()); err != nil {
			return err
		}
		writeEvent("health", buf.Bytes())
		return nil
	}
	flush := func() bool {
		if _, err := w.Write(out.Bytes()); err != nil {
			return false
		}
		out.Reset()
		return rc.Flush() == nil
	}

	changed := s.index.Changed()
	if err := sendRows(); err != nil {
		s.log.Error("serving console: live rows", "err", err)
		return
	}
	if !flush() {
		return
	}
	healthT := time.NewTicker(liveHealth)
	defer healthT.Stop()
	keepT := time.NewTicker(liveKeepalive)
	defer keepT.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-changed:
			// Let a burst settle, then send the table as it is.
			select {
			case <-r.Context().Done():
				return
			case <-time.After(liveCoalesce):
			}
			changed = s.index.Changed()
			if err := sendRows(); err != nil {
				s.log.Error("serving console: live rows", "err", err)
				return
			}
		case <-healthT.C:
			if err := sendHealth(); err != nil {
				s.log.Error("serving console: live health", "err", err)
				return
			}
		case <-keepT.C:
			out.WriteString(": keepalive\n\n")
		}
		if !flush() {
			return
		}
	}
}
