// anther web console: live state over a WebSocket, sliders and keyboard /
// gamepad jogging with a dead-man key, operator heartbeats, e-stop.
"use strict";
const $ = (id) => document.getElementById(id);
const state = { savedEpisodes: -1, doc: null, session: sessionStorage.getItem("anther-session") || "", selected: 0, ws: null, sliding: new Set() };
const jointPlot = new StripChart($("plot-joints"), { length: 300 });
const timingPlot = new StripChart($("plot-timing"), { length: 300, min: 0 });

async function api(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (state.session) headers["X-Anther-Session"] = state.session;
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "same-origin" });
  let data = null;
  try { data = await r.json(); } catch (_) { /* 204 */ }
  if (!r.ok) { const msg = (data && data.error) || r.statusText; logEvent({ kind: "error", level: "warn", msg: `${method} ${path}: ${msg}` }); throw new Error(msg); }
  return data;
}

function logEvent(ev) {
  const li = document.createElement("li");
  const t = ev.time ? new Date(ev.time) : new Date();
  li.textContent = `${t.toLocaleTimeString()} ${ev.kind}: ${ev.msg}`;
  li.className = ev.level || "";
  const ol = $("events"); ol.prepend(li);
  while (ol.children.length > 200) ol.lastChild.remove();
}

function estop() {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "estop" }));
  api("POST", "/api/estop").catch(() => {});
}

function buildJoints(doc) {
  const tb = $("joints").tBodies[0]; tb.innerHTML = "";
  doc.joints.forEach((j, i) => {
    const tr = document.createElement("tr"); tr.dataset.index = i; tr.id = "joint-" + j.name;
    tr.innerHTML = `<td>${i + 1}</td><td>${j.name}</td><td class="pos"></td><td class="tgt"></td><td class="cmd"></td><td class="eff"></td>
      <td><input type="range" min="${j.min}" max="${j.max}" step="0.001" value="${j.position}" data-joint="${j.name}"></td><td class="flt"></td>`;
    tr.addEventListener("click", () => select(i));
    const slider = tr.querySelector("input");
    slider.addEventListener("pointerdown", () => state.sliding.add(j.name));
    slider.addEventListener("pointerup", () => state.sliding.delete(j.name));
    slider.addEventListener("input", () => api("POST", "/api/joints/targets", { targets: { [j.name]: parseFloat(slider.value) } }).catch(() => {}));
    slider.addEventListener("change", () => { state.sliding.delete(j.name); api("POST", "/api/joints/targets", { targets: { [j.name]: parseFloat(slider.value) } }).catch(() => {}); });
    tb.appendChild(tr);
  });
  select(state.selected);
}

function select(i) {
  state.selected = i;
  for (const tr of $("joints").tBodies[0].rows) tr.classList.toggle("selected", Number(tr.dataset.index) === i);
}

function render(doc) {
  const first = !state.doc || state.doc.joints.length !== doc.joints.length;
  state.doc = doc;
  if (first) { buildJoints(doc); $("robot").textContent = doc.robot; }
  const lc = $("lifecycle"); lc.textContent = doc.lifecycle; lc.className = "badge " + doc.lifecycle;
  $("trip").textContent = doc.safety && doc.safety.trip !== "none" ? "last trip: " + doc.safety.trip : "";
  const op = doc.operator || {};
  $("operator").textContent = op.held ? (op.you ? "you have control" : `${op.name} has control (view-only)`) : "nobody has control";
  $("claim").disabled = !!op.you; $("release").disabled = !op.you;
  const rows = $("joints").tBodies[0].rows;
  doc.joints.forEach((j, i) => {
    const tr = rows[i]; if (!tr) return;
    tr.querySelector(".pos").textContent = j.position.toFixed(3);
    tr.querySelector(".tgt").textContent = j.target.toFixed(3);
    tr.querySelector(".cmd").textContent = j.command.toFixed(3) + (j.clamped ? " ⚠" : "");
    tr.querySelector(".eff").textContent = j.effort.toFixed(2);
    const f = tr.querySelector(".flt"); f.textContent = j.fault === "ok" ? "" : j.fault; f.className = "flt" + (j.fault === "ok" ? "" : " fault");
    const s = tr.querySelector("input"); if (!state.sliding.has(j.name) && document.activeElement !== s) s.value = j.target;
    jointPlot.push(j.name, j.position);
  });
  const lat = doc.timing.lateness;
  timingPlot.push("tick p99 µs", doc.timing.tick.p99_us); timingPlot.push("lateness p99 µs", lat.p99_us);
  $("timing").textContent = `lateness p50 ${lat.p50_us.toFixed(0)} µs · p99 ${lat.p99_us.toFixed(0)} µs · max ${lat.max_us.toFixed(0)} µs · overruns ${doc.timing.overruns}`;
  if (doc.cameras && doc.cameras.length && !$("cameras").dataset.built) {
    $("cameras").dataset.built = "1"; $("cameras").innerHTML = "";
    for (const c of doc.cameras) { const img = document.createElement("img"); img.alt = c.name; img.src = `/api/cameras/${encodeURIComponent(c.name)}/mjpeg`; $("cameras").appendChild(img); }
  }
}

function connect() {
  const proto = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${proto}://${location.host}/api/ws/state?hz=30&session=${encodeURIComponent(state.session)}`);
  state.ws = ws;
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "state") render(msg.state);
    else if (msg.type === "error") logEvent({ kind: "error", level: "warn", msg: msg.error });
  };
  ws.onclose = () => { $("lifecycle").textContent = "disconnected"; $("lifecycle").className = "badge"; setTimeout(connect, 1000); };
  const ev = new WebSocket(`${proto}://${location.host}/api/ws/events`);
  ev.onmessage = (m) => logEvent(JSON.parse(m.data));
  ws.addEventListener("close", () => ev.close());
}

// Heartbeats while this tab holds control: the robot holds if they stop.
setInterval(() => {
  if (state.session && state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "heartbeat", session: state.session }));
}, 100);

// Keyboard jogging: Shift is the dead-man key.
const keys = new Set();
function jogVelocities() {
  const v = {}; if (!state.doc) return v;
  const j = state.doc.joints[state.selected]; if (!j) return v;
  const speed = 0.5; // rad/s
  if (keys.has("Shift")) {
    if (keys.has("ArrowRight") || keys.has("ArrowUp")) v[j.name] = speed;
    if (keys.has("ArrowLeft") || keys.has("ArrowDown")) v[j.name] = -speed;
  }
  return v;
}
let jogging = false;
function sendJog(v) {
  const any = Object.keys(v).length > 0;
  if (!any && !jogging) return;
  jogging = any;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "jog", session: state.session, velocities: v }));
}
document.addEventListener("keydown", (e) => {
  if (e.target.tagName === "INPUT" && e.target.type !== "range") return;
  if (e.code === "Space") { e.preventDefault(); estop(); return; }
  if (/^Digit[1-9]$/.test(e.code)) { select(Number(e.code.slice(5)) - 1); return; }
  if (e.key.startsWith("Arrow")) e.preventDefault();
  keys.add(e.key);
});
document.addEventListener("keyup", (e) => { keys.delete(e.key); if (e.key === "Shift") keys.clear(); });
window.addEventListener("blur", () => keys.clear());

// Gamepad: LB (button 4) is the dead-man; the two sticks move joints 1-4.
function gamepadVelocities() {
  const v = {}; const pads = navigator.getGamepads ? navigator.getGamepads() : [];
  const gp = [...pads].find((p) => p); if (!gp || !state.doc) return v;
  if (!(gp.buttons[4] && gp.buttons[4].pressed)) return v;
  gp.axes.slice(0, 4).forEach((a, i) => { const j = state.doc.joints[i]; if (j && Math.abs(a) > 0.15) v[j.name] = -a * 0.8; });
  return v;
}
setInterval(() => sendJog({ ...gamepadVelocities(), ...jogVelocities() }), 40);
setInterval(() => { jointPlot.draw(); timingPlot.draw(); }, 100);

$("estop").addEventListener("click", estop);
$("activate").addEventListener("click", () => api("POST", "/api/lifecycle/activate").catch(() => {}));
$("deactivate").addEventListener("click", () => api("POST", "/api/lifecycle/deactivate").catch(() => {}));
$("reset").addEventListener("click", () => api("POST", "/api/lifecycle/reset").catch(() => {}));
$("claim").addEventListener("click", async () => {
  const name = localStorage.getItem("anther-operator") || "operator";
  const r = await api("POST", "/api/operator/claim", { name, force: false }).catch(() => null);
  if (r) { state.session = r.session; sessionStorage.setItem("anther-session", r.session); }
});
$("release").addEventListener("click", async () => {
  await api("POST", "/api/operator/release").catch(() => {});
  state.session = ""; sessionStorage.removeItem("anther-session");
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ type: "heartbeat", session: "" }));
});

// Recording and policy panels use their APIs when the daemon has them (the
// OpenAPI document says which endpoints exist).
const available = new Set();
fetch("/api/openapi.json", { credentials: "same-origin" }).then((r) => r.json()).then((doc) => {
  for (const p of Object.keys(doc.paths || {})) available.add(p);
  for (const [panel, path] of [["recording-panel", "/api/recording"], ["policy-panel", "/api/policy"]]) {
    if (!available.has(path)) for (const b of document.querySelectorAll(`#${panel} button, #${panel} input`)) b.disabled = true;
  }
}).catch(() => {});
async function refreshPanels() {
  if (available.has("/api/recording")) try {
    const r = await fetch("/api/recording", { credentials: "same-origin" });
    if (r.ok) {
      const s = await r.json();
      const n = s.episodes_saved || 0;
      $("recording-status").textContent = s.state === "recording"
        ? `recording episode ${s.episode} · ${s.frames} frames · ${s.elapsed_s.toFixed(1)} s · backlog ${s.encoder_backlog} · dropped ${s.dropped_steps}${s.faithful ? "" : " · NOT FAITHFUL"}`
        : `${s.state} · ${n} episode(s) saved this session${s.dataset ? " in " + s.dataset : ""}`;
      if (s.repo_id && n > 0 && n !== state.savedEpisodes) {
        state.savedEpisodes = n;
        const e = await fetch(`/api/recording/episodes?repo_id=${encodeURIComponent(s.repo_id)}`, { credentials: "same-origin" });
        if (e.ok) {
          const list = (await e.json()).episodes || [];
          $("episodes").innerHTML = "";
          for (const ep of list.slice(-10)) {
            const li = document.createElement("li");
            li.className = "episode";
            li.textContent = `episode ${ep.episode_index}: ${ep.length} frames · ${ep.duration_s.toFixed(1)} s · ${(ep.tasks || []).join(", ")}`;
            $("episodes").appendChild(li);
          }
        }
      }
    }
  } catch (_) { /* not available */ }
  if (available.has("/api/policy")) try {
    const r = await fetch("/api/policy", { credentials: "same-origin" });
    if (r.ok) { const s = await r.json(); $("policy-status").textContent = s.running ? `running ${s.model}` : (s.model ? `loaded ${s.model}` : "idle"); }
  } catch (_) { /* not available */ }
}
setInterval(refreshPanels, 1000);
$("rec-start").addEventListener("click", () => api("POST", "/api/recording/start", { repo_id: $("repo").value, task: $("task").value }).catch(() => {}));
$("rec-stop").addEventListener("click", () => api("POST", "/api/recording/stop").catch(() => {}));
$("rec-discard").addEventListener("click", () => api("POST", "/api/recording/discard").catch(() => {}));
$("policy-start").addEventListener("click", async () => {
  const model = $("policy-model").value.trim();
  try {
    if (model) await api("POST", "/api/policy/load", { model });
    await api("POST", "/api/policy/start");
  } catch (_) { /* shown in the event log */ }
});
$("policy-stop").addEventListener("click", () => api("POST", "/api/policy/stop").catch(() => {}));

connect();
