// A small strip-chart for a canvas: fixed-length series, drawn on demand.
"use strict";
class StripChart {
  constructor(canvas, { length = 300, min = null, max = null } = {}) {
    this.c = canvas; this.ctx = canvas.getContext("2d");
    this.length = length; this.series = new Map(); this.fixedMin = min; this.fixedMax = max;
    this.colors = ["#4fa3ff", "#3ecf6e", "#f0b429", "#ff4d4f", "#b58cff", "#2ed3c5", "#ff8ad8", "#c0c0c0", "#ffa35c", "#7fdbff"];
  }
  push(name, v) {
    let s = this.series.get(name);
    if (!s) { s = []; this.series.set(name, s); }
    s.push(v); if (s.length > this.length) s.shift();
  }
  draw() {
    const { ctx, c } = this, w = c.width, h = c.height;
    ctx.clearRect(0, 0, w, h);
    let lo = this.fixedMin, hi = this.fixedMax;
    if (lo === null || hi === null) {
      let a = Infinity, b = -Infinity;
      for (const s of this.series.values()) for (const v of s) { if (v < a) a = v; if (v > b) b = v; }
      if (!isFinite(a)) { a = -1; b = 1; }
      if (b - a < 1e-6) { a -= 0.5; b += 0.5; }
      lo = lo ?? a; hi = hi ?? b;
    }
    ctx.strokeStyle = "#262c35"; ctx.lineWidth = 1;
    for (let i = 1; i < 4; i++) { const y = (h * i) / 4; ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(w, y); ctx.stroke(); }
    ctx.fillStyle = "#8a93a0"; ctx.font = "11px sans-serif";
    ctx.fillText(hi.toFixed(3), 4, 12); ctx.fillText(lo.toFixed(3), 4, h - 4);
    let k = 0, lx = 70;
    for (const [name, s] of this.series) {
      const col = this.colors[k++ % this.colors.length];
      ctx.strokeStyle = col; ctx.lineWidth = 1.5; ctx.beginPath();
      s.forEach((v, i) => {
        const x = (i / (this.length - 1)) * w, y = h - ((v - lo) / (hi - lo)) * (h - 4) - 2;
        if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
      });
      ctx.stroke();
      ctx.fillStyle = col; ctx.fillText(name, lx, 12); lx += ctx.measureText(name).width + 10;
    }
  }
}
window.StripChart = StripChart;
