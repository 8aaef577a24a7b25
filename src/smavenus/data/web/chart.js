// smavenus-web's charts: a few time series on a canvas, drawn here (no library, nothing
// fetched). Gaps (null) break the line. The time axis ends now; the value axis fits the data.
"use strict";
window.SmaChart = (function () {
  function niceRange(lo, hi) {
    if (lo === hi) { lo -= 1; hi += 1; }
    const pad = (hi - lo) * 0.08;
    return [lo - pad, hi + pad];
  }
  function fmtTime(t) {
    const d = new Date(t * 1000);
    return String(d.getHours()).padStart(2, "0") + ":" + String(d.getMinutes()).padStart(2, "0");
  }
  function draw(canvas, t, series) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
    const g = canvas.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    const left = 44, right = 6, top = 6, bottom = 18;
    let lo = Infinity, hi = -Infinity;
    for (const s of series) for (const v of s.values) if (v !== null) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    g.font = "11px system-ui, sans-serif"; g.fillStyle = "#6b7280"; g.strokeStyle = "#dfe3e8";
    if (!t.length || lo === Infinity) { g.fillText("no data yet", left, h / 2); return; }
    [lo, hi] = niceRange(lo, hi);
    const t1 = t[t.length - 1], t0 = Math.min(t[0], t1 - 60);
    const x = (v) => left + (v - t0) / (t1 - t0 || 1) * (w - left - right);
    const y = (v) => top + (hi - v) / (hi - lo) * (h - top - bottom);
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const v = lo + (hi - lo) * i / 4, yy = Math.round(y(v)) + 0.5;
      g.beginPath(); g.moveTo(left, yy); g.lineTo(w - right, yy); g.stroke();
      g.fillText(Math.abs(hi - lo) < 10 ? v.toFixed(1) : v.toFixed(0), 2, yy + 4);
    }
    for (let i = 0; i <= 3; i++) {
      const tv = t0 + (t1 - t0) * i / 3;
      g.fillText(fmtTime(tv), Math.min(x(tv), w - 34), h - 4);
    }
    for (const s of series) {
      g.strokeStyle = s.color; g.lineWidth = 1.5; g.beginPath();
      let pen = false;
      for (let i = 0; i < t.length; i++) {
        const v = s.values[i];
        if (v === null || v === undefined) { pen = false; continue; }
        if (pen) g.lineTo(x(t[i]), y(v)); else { g.moveTo(x(t[i]), y(v)); pen = true; }
      }
      g.stroke();
    }
    let lx = left + 4;
    for (const s of series) {
      g.fillStyle = s.color; g.fillRect(lx, top + 2, 10, 3); g.fillStyle = "#1d2430";
      g.fillText(s.name, lx + 13, top + 8); lx += 18 + g.measureText(s.name).width;
    }
  }
  return { draw: draw };
})();
