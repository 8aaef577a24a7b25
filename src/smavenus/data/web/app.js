// smavenus-web's page: state from /api/state, pushed updates from /api/events (server-sent
// events), charts from /api/history, writes with the session's CSRF token.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const DASH = "—";
  let csrf = null, state = null, readOnly = false, remoteOnOff = false;
  const pending = {};  // setting key -> {value, afterSeq}
  let hist = { t: [] };

  function num(v, digits, unit) {
    if (v === null || v === undefined) return DASH;
    return Number(v).toFixed(digits) + (unit ? " " + unit : "");
  }
  function text(id, v) { const el = $(id); if (el && el.textContent !== v) el.textContent = v; }
  function duration(s) {
    if (s === null || s === undefined) return DASH;
    if (s < 120) return s + " s";
    if (s < 7200) return Math.round(s / 60) + " min";
    return (s / 3600).toFixed(1) + " h";
  }
  function dl(el, pairs) {
    el.replaceChildren();
    for (const [k, v] of pairs) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = v;
      el.append(dt, dd);
    }
  }
  function cell(tr, v, cls) {
    const td = document.createElement("td"); td.textContent = v; if (cls) td.className = cls; tr.append(td);
  }

  function renderLive(v) {
    state = v;
    const b = v.battery, c = v.controller, si = v.si;
    text("soc", b.soc_pct === null ? num(b.soc_sent_pct, 1) : num(b.soc_pct, 1));
    text("battery-voltage", num(b.voltage_v !== null ? b.voltage_v : b.si_voltage_v, 2, "V"));
    text("battery-current", num(b.current_a !== null ? b.current_a : b.si_current_a, 1, "A"));
    text("battery-temperature", num(b.temperature_c, 1, "°C"));
    text("battery-cells", b.min_cell_v === null ? DASH : num(b.min_cell_v, 3) + " … " + num(b.max_cell_v, 3, "V"));
    text("soc-sent", num(b.soc_sent_pct, 1, "%"));
    text("measurement-source", c ? c.measurement_source : DASH);
    text("charge-state", c ? c.charge_state : DASH);
    text("charge-time", c ? duration(c.in_state_s) : DASH);
    text("charge-reason", c ? c.charge_state_reason : DASH);
    text("charge-control", c ? c.charge_control : DASH);
    text("last-full", c && c.last_full_charge_unix ? new Date(c.last_full_charge_unix * 1000).toLocaleString() : DASH);
    text("grid", c ? (c.grid_requested ? "requested" : "no") + " (" + c.grid_reason + ")" : DASH);
    if (si) {
      text("si-summary", (si.present ? "present" : "ABSENT") + " · AC2 " + (si.ac2 || DASH) +
        " · " + num(si.out_hz, 2, "Hz") + " · load " + num(si.total_load_w, 0, "W") +
        (si.error_number ? " · error " + si.error_number : ""));
      const body = $("si-lines").tBodies[0]; body.replaceChildren();
      for (const l of si.lines) {
        const tr = document.createElement("tr"); tr.id = "si-line-" + l.line;
        cell(tr, "L" + l.line); cell(tr, num(l.out_v, 1)); cell(tr, num(l.out_w, 0));
        cell(tr, num(l.inverter_w, 0)); cell(tr, num(l.ac2_w, 0)); cell(tr, num(l.ac2_v, 1));
        body.append(tr);
      }
    } else text("si-summary", "no snapshot from the can-gateway yet");
    const lb = $("limits").tBodies[0]; lb.replaceChildren();
    for (const l of v.limits) {
      const tr = document.createElement("tr"); tr.id = "limit-" + l.key;
      cell(tr, l.short); cell(tr, num(l.commanded, 1, l.unit)); cell(tr, l.reason || DASH, "why");
      cell(tr, num(l.sent, 1, l.unit) + (l.sent_reason && l.sent_reason !== l.reason ? " (" + l.sent_reason + ")" : ""));
      const cands = Object.entries(l.candidates || {}).map(([k, x]) => k + " " + num(x, 1)).join(", ");
      cell(tr, cands || DASH, "why");
      lb.append(tr);
    }
    const ul = $("conditions"); ul.replaceChildren();
    for (const p of v.conditions) {
      const li = document.createElement("li");
      const tag = document.createElement("span"); tag.className = "lvl-" + p.level;
      tag.textContent = (p.sma || p.level.toUpperCase()) + " ";
      li.append(tag, document.createTextNode(p.name + (p.condition ? " · " + p.condition : "") +
        (p.value !== null ? " · " + num(p.value, 2) + " (limit " + num(p.threshold, 2) + ")" : "") +
        " · " + p.origin));
      ul.append(li);
    }
    if (!v.conditions.length) { const li = document.createElement("li"); li.className = "muted"; li.textContent = "none"; ul.append(li); }
    dl($("bms"), c ? [
      ["Battery BMS", c.bms_service || "none"], ["BMS fresh", c.bms_fresh ? "yes" : "no"],
      ["BMS connection lost", c.bms_connection_lost ? "YES" : "no"], ["DVCC", c.dvcc_on ? "on" : "off"],
      ["Sensors disagree", c.sensor_disagreement ? "YES" : "no"],
      ["Frozen sources", c.frozen_sources.length ? c.frozen_sources.join(", ") : "none"],
      ["Battery monitor", c.battery_service || "none"], ["Settings from", c.settings_source],
      ["Controller status", "#" + c.seq + ", " + num(c.age_s, 1, "s") + " old"],
    ] : [["Controller", "no status yet"]]);
    const k = v.can;
    dl($("can"), k ? [
      ["Bus", k.interface + " " + k.channel + " · " + k.bus_state], ["SI present", k.si_present ? "yes" : "NO"],
      ["Frames received", String(k.frames_received)], ["Frames scheduled", String(k.frames_scheduled)],
      ["Dropped / malformed / foreign", k.frames_dropped + " / " + k.frames_malformed + " / " + k.frames_foreign],
      ["Command source", k.command_source + (k.command_age_s !== null ? " (" + num(k.command_age_s, 1, "s") + ")" : "")],
      ["Commands accepted / rejected", k.commands_accepted + " / " + k.commands_rejected],
      ["Bus reopens / adapter errors", k.bus_reopens + " / " + k.adapter_errors],
      ["Health", num(k.age_s, 1, "s") + " old"],
    ] : [["Gateway", "no health yet"]]);
    renderSettings(v.settings, c ? c.seq : null);
    const link = $("link");
    link.textContent = "live · " + new Date(v.now_unix * 1000).toLocaleTimeString();
    link.className = "pill ok"; link.dataset.updated = String(v.now_unix);
  }

  function renderSettings(s, seq) {
    const why = s.writable;
    text("settings-note", why ? "Read-only: " + why : "Each value is checked with the controller's own rules before it is written to localsettings.");
    dl($("envelope"), Object.entries(s.envelope).map(([k, x]) => [k, Array.isArray(x) ? x.join(" … ") : String(x)]));
    const box = $("settings-rows");
    for (const r of s.rows) {
      let row = $("row-" + r.key);
      if (!row) row = buildRow(box, r);
      const input = $("setting-" + r.key);
      input.disabled = !!why; $("save-" + r.key).disabled = !!why;
      const shown = r.kind === "bool" ? (r.value ? "1" : "0") : String(r.value);
      if (document.activeElement !== input && !input.dataset.dirty) input.value = shown;
      const p = pending[r.key];
      if (p && seq !== null && seq > p.afterSeq && String(r.value) === String(p.value)) {
        const msg = $("msg-" + r.key); msg.className = "msg ok";
        msg.textContent = "applied: the controller runs with " + r.value + " (status #" + seq + ")";
        delete pending[r.key];
      }
    }
  }
  function buildRow(box, r) {
    const row = document.createElement("div"); row.className = "setting"; row.id = "row-" + r.key;
    const label = document.createElement("label"); label.htmlFor = "setting-" + r.key; label.textContent = r.key;
    let input;
    if (r.kind === "choice" || r.kind === "bool") {
      input = document.createElement("select");
      const opts = r.kind === "bool" ? [["1", "on"], ["0", "off"]] : r.choices.map((c) => [c, c]);
      for (const [val, lab] of opts) { const o = document.createElement("option"); o.value = val; o.textContent = lab; input.append(o); }
    } else {
      input = document.createElement("input");
      input.type = r.kind === "text" ? "text" : "text"; input.inputMode = r.kind === "text" ? "text" : "decimal";
    }
    input.id = "setting-" + r.key;
    input.addEventListener("input", () => { input.dataset.dirty = "1"; });
    const save = document.createElement("button"); save.type = "button"; save.id = "save-" + r.key; save.textContent = "Save";
    save.addEventListener("click", () => saveSetting(r.key, input.value));
    const bounds = document.createElement("span"); bounds.className = "bounds";
    bounds.textContent = (r.min !== null || r.max !== null ? "range " + (r.min ?? "…") + " – " + (r.max ?? "…") + " · " : "") + r.path;
    const msg = document.createElement("span"); msg.className = "msg"; msg.id = "msg-" + r.key; msg.setAttribute("role", "status");
    row.append(label, input, save, bounds, msg); box.append(row);
    return row;
  }

  async function post(url, body) {
    const res = await fetch(url, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf }, body: JSON.stringify(body) });
    let data = null; try { data = await res.json(); } catch (e) { data = { error: await res.text().catch(() => res.statusText) }; }
    return { ok: res.ok, status: res.status, data: data || {} };
  }
  async function saveSetting(key, value) {
    const msg = $("msg-" + key); msg.className = "msg"; msg.textContent = "checking…";
    const r = await post("/api/settings", { key: key, value: value });
    const input = $("setting-" + key);
    if (r.ok && r.data.accepted) {
      delete input.dataset.dirty;
      const seq = state && state.controller ? state.controller.seq : -1;
      pending[key] = { value: r.data.value, afterSeq: seq };
      msg.className = "msg"; msg.textContent = "written to localsettings; waiting for the controller…";
    } else {
      msg.className = "msg error"; msg.textContent = "refused: " + (r.data.error || r.status);
    }
  }

  function confirmThen(question, then) {
    const dlg = $("confirm"); $("confirm-text").textContent = question;
    dlg.returnValue = "";
    dlg.addEventListener("close", function once() { dlg.removeEventListener("close", once); if (dlg.returnValue === "yes") then(); });
    dlg.showModal();
  }
  function setupActions() {
    for (const btn of document.querySelectorAll("[data-action]")) {
      const action = btn.dataset.action;
      btn.id = "action-" + action;
      if (readOnly || ((action === "si_on" || action === "si_off") && !remoteOnOff)) btn.disabled = true;
      btn.addEventListener("click", () => confirmThen(btn.dataset.ask, async () => {
        const out = $("action-result"); out.textContent = "sending…";
        const r = await post("/api/actions/" + action, { confirm: true });
        out.textContent = btn.textContent + ": " + (r.data.accepted ? "done" +
          (r.data.released && r.data.released.length ? " (released " + r.data.released.join(", ") + ")" : "")
          : "refused: " + (r.data.error || r.status));
      }));
    }
    text("actions-note", readOnly ? "Read-only mode: actions are off." :
      (remoteOnOff ? "Each action asks first and is logged with who and when." :
        "SI on/off needs [gateway] enable_remote_on_off = true."));
  }

  function drawCharts() {
    document.body.dataset.points = String(hist.t.length);
    if (!window.SmaChart) return;
    const t = hist.t, d = (name) => hist[name] || [];
    SmaChart.draw($("chart-soc"), t, [{ name: "SoC", values: d("soc_pct"), color: "#0b6bcb" }]);
    SmaChart.draw($("chart-voltage"), t, [{ name: "battery", values: d("voltage_v"), color: "#0b6bcb" }, { name: "CVL", values: d("cvl_v"), color: "#b45309" }]);
    SmaChart.draw($("chart-current"), t, [{ name: "battery", values: d("current_a"), color: "#0b6bcb" }, { name: "CCL", values: d("ccl_a"), color: "#15803d" }, { name: "−DCL", values: d("dcl_a").map((x) => x === null ? null : -x), color: "#b91c1c" }]);
    SmaChart.draw($("chart-ac"), t, [{ name: "SI out", values: d("ac_out_w"), color: "#0b6bcb" }, { name: "AC2", values: d("ac_in_w"), color: "#b45309" }]);
  }
  function addPoint(p) {
    for (const k of Object.keys(p)) { (hist[k] = hist[k] || []).push(p[k]); }
    drawCharts();
  }

  function listen() {
    const es = new EventSource("/api/events");
    es.addEventListener("live", (e) => renderLive(JSON.parse(e.data)));
    es.addEventListener("point", (e) => addPoint(JSON.parse(e.data)));
    es.onerror = () => { const l = $("link"); l.textContent = "reconnecting…"; l.className = "pill bad"; };
  }

  async function start() {
    const res = await fetch("/api/state", { credentials: "same-origin" });
    if (res.status === 401) { location.href = "/login"; return; }
    const s = await res.json();
    csrf = s.session.csrf; readOnly = s.read_only; remoteOnOff = s.remote_on_off;
    $("logout").hidden = !s.needs_login;
    $("logout").addEventListener("submit", async (e) => { e.preventDefault(); await post("/logout", {}); location.href = "/login"; });
    renderLive(s);
    setupActions();
    const h = await fetch("/api/history", { credentials: "same-origin" });
    if (h.ok) { hist = await h.json(); drawCharts(); }
    window.addEventListener("resize", drawCharts);
    listen();
  }
  start();
})();
