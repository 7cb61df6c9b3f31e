// The console's one script: live alert rows (server-sent events) and the
// host timeline (uPlot). The server renders HTML with html/template, which
// escapes what attackers control; it enters the page only through the
// "console" Trusted Types policy that the Content-Security-Policy allows.
'use strict';
(() => {
  const policy = window.trustedTypes
    ? window.trustedTypes.createPolicy('console', { createHTML: (s) => s })
    : { createHTML: (s) => s };
  const put = (el, html) => { el.innerHTML = policy.createHTML(html); };

  // The alert list follows eve.json: the server sends the table body
  // (with the page's filter) whenever records arrive, and the health panel.
  function live() {
    const status = document.getElementById('live-status');
    const rows = document.getElementById('alert-rows');
    const health = document.getElementById('health');
    if (!status || !rows || !window.EventSource) return;
    const es = new EventSource(status.dataset.stream);
    es.addEventListener('open', () => { status.textContent = 'live'; status.className = 'live on'; });
    es.addEventListener('error', () => { status.textContent = 'reconnecting'; status.className = 'live off'; });
    es.addEventListener('rows', (e) => put(rows, e.data));
    es.addEventListener('health', (e) => { if (health) put(health, e.data); });
  }

  const colors = {
    alert: '#c0392b',
    backscatter: '#d68910',
    'cc-unanswered': '#2e86c1',
    'cc-rejected': '#5d6d7e',
    'cc-accepted': '#ca6f1e',
    'cc-established': '#922b21',
    'listed-inbound': '#7d3c98',
    '': '#7f8c8d',
  };

  // The host timeline: alerts and sessions (by label) in two lanes; a
  // click on a point opens its alert or session.
  function timeline() {
    const el = document.getElementById('timeline');
    if (!el) return;
    if (!window.uPlot) { el.textContent = 'The charting library did not load.'; return; }
    fetch(el.dataset.src, { credentials: 'same-origin' })
      .then((r) => { if (!r.ok) throw new Error(r.status + ' ' + r.statusText); return r.json(); })
      .then((d) => draw(el, d))
      .catch((err) => { el.textContent = 'The timeline could not be loaded: ' + err.message; });
  }

  const two = (n) => String(n).padStart(2, '0');
  const day = (t) => new Date(t * 1e3).toISOString().slice(0, 10);
  // Axis labels in UTC, as the pages show times: HH:MM (:SS when the
  // ticks are closer than a minute), the date under the first tick of a day.
  const timeLabels = (_, splits, _axis, _space, incr) => splits.map((t, i) => {
    const d = new Date(t * 1e3);
    let s = two(d.getUTCHours()) + ':' + two(d.getUTCMinutes());
    if (incr < 60) s += ':' + two(d.getUTCSeconds());
    return i === 0 || day(t) !== day(splits[i - 1]) ? s + '\n' + day(t) : s;
  });

  function draw(el, d) {
    el.textContent = '';
    if (d.x.length === 0) { el.textContent = 'Nothing for this host in this window.'; return; }
    const first = d.x[0];
    const last = d.x[d.x.length - 1];
    const pad = Math.max(60, (last - first) * 0.05);
    const series = [{ label: 'UTC', value: (_, t) => (t == null ? '--' : new Date(t * 1e3).toISOString().replace('T', ' ').slice(0, 23)) }].concat(d.series.map((s) => {
      const c = colors[s.kind] || colors[''];
      return { label: s.name, stroke: c, paths: () => null, points: { show: true, size: 10, width: 1, fill: c, stroke: '#fff' } };
    }));
    const data = [d.x].concat(d.series.map((s) => s.y));
    const height = 200;
    const u = new window.uPlot({
      width: el.clientWidth || 900,
      height,
      scales: {
        x: { time: true, range: () => [first - pad, last + pad] },
        y: { range: () => [0.4, d.lanes.length + 0.6] },
      },
      axes: [
        { stroke: '#445', values: timeLabels, size: 44 },
        {
          stroke: '#445',
          size: 80,
          splits: () => d.lanes.map((_, i) => i + 1),
          values: (_, vals) => vals.map((v) => d.lanes[v - 1] || ''),
        },
      ],
      cursor: { drag: { x: true, y: false }, points: { size: 14 } },
      series,
    }, data, el);
    // A click opens the point nearest to it (within a few pixels): its
    // alert or session.
    u.over.classList.add('clickable');
    u.over.addEventListener('click', (e) => {
      const r = u.over.getBoundingClientRect();
      const cx = e.clientX - r.left;
      const cy = e.clientY - r.top;
      let best = null;
      let bestDist = 12;
      d.series.forEach((s) => {
        s.y.forEach((y, i) => {
          if (y == null || !s.links[i]) return;
          const dist = Math.hypot(u.valToPos(d.x[i], 'x') - cx, u.valToPos(y, 'y') - cy);
          if (dist < bestDist) { best = s.links[i]; bestDist = dist; }
        });
      });
      if (best) window.location.href = best;
    });
    window.addEventListener('resize', () => u.setSize({ width: el.clientWidth, height }));
  }

  document.addEventListener('DOMContentLoaded', () => { live(); timeline(); });
})();
