// edgegate console: one page with hash routes, built only on the public /api/v1 and its event
// stream. No framework and no build step: the file is embedded in the binary as it is.
// Data is always put into the DOM as text (never innerHTML), and nothing runs inline, so the
// admin endpoint's strict Content-Security-Policy holds.
"use strict";
(() => {
  const API = "/api/v1";
  const TOKEN_KEY = "edgegate.token";
  const DEVICE_PAGE = 100;
  const POINT_PAGE = 200;
  const HISTORY_MAX = 500;

  const main = document.getElementById("main");
  const banner = document.getElementById("error-banner");
  const connEl = document.querySelector("[data-testid=connection]");

  // ---- small helpers -------------------------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v == null || v === false) continue;
      if (k === "text") el.textContent = v;
      else if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid);
    return el;
  }
  const svgNS = "http://www.w3.org/2000/svg";
  const enc = encodeURIComponent;
  const badge = (text, cls) => h("span", { class: "badge b-" + (cls || text), text });

  function fmtNum(n) {
    if (typeof n !== "number") return String(n);
    return Number.isInteger(n) ? String(n) : String(+n.toPrecision(6));
  }
  const fmtValue = (v) => (v == null ? "—" : typeof v === "number" ? fmtNum(v) : String(v));
  const withUnit = (v, unit) => (v == null || !unit ? fmtValue(v) : fmtValue(v) + " " + unit);
  function fmtBytes(b) {
    if (b == null) return "—";
    const units = ["B", "KB", "MB", "GB"];
    let i = 0;
    while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b : b.toFixed(1)) + " " + units[i];
  }
  function fmtSeconds(s) {
    if (s == null) return "—";
    if (s < 60) return (s < 10 ? s.toFixed(1) : Math.round(s)) + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + Math.floor(s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  }
  const fmtMs = (ms) => (ms == null ? "—" : ms < 1000 ? fmtNum(+ms.toFixed(1)) + " ms" : (ms / 1000).toFixed(2) + " s");
  function ageText(ms) {
    const s = Math.max(0, (Date.now() - ms) / 1000);
    if (s < 60) return Math.floor(s) + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  }
  // Ages are re-rendered once a second by the ticker from data-ts; the exact local time stays in
  // the title so a hover shows it.
  function setAge(el, ts) {
    const ms = ts == null ? NaN : Date.parse(ts);
    if (Number.isNaN(ms)) {
      el.textContent = "—";
      el.removeAttribute("data-ts");
      el.removeAttribute("title");
      return el;
    }
    el.dataset.ts = ms;
    el.title = new Date(ms).toLocaleString();
    el.textContent = ageText(ms);
    return el;
  }

  // Errors of background fetches are shown in one banner, keyed so a later success clears them.
  const errors = new Map();
  function setError(key, message) {
    if (message) errors.set(key, message);
    else errors.delete(key);
    banner.textContent = [...errors.values()].join(" · ");
    banner.hidden = errors.size === 0;
  }

  // Off loopback the endpoint wants the token for reads too: send it when one is kept, and on a
  // 401 ask for it (one shared dialog) and try once more.
  async function getJSON(path, retried) {
    let res;
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    try {
      res = await fetch(API + path, { headers, cache: "no-store" });
    } catch (e) {
      throw new Error(`GET ${API}${path}: the gateway did not answer (${e.message})`);
    }
    const body = await res.json().catch(() => null);
    const error = (body && body.error) || res.statusText;
    if (res.status === 401 && !retried) {
      if (token) sessionStorage.removeItem(TOKEN_KEY);
      const again = await askToken(`This gateway needs the admin token also for reading (${error}).`);
      if (again) return getJSON(path, true);
    }
    if (!res.ok) throw new Error(`GET ${API}${path}: ${res.status} ${error}`);
    return body;
  }

  // ---- token and writes ----------------------------------------------------------------------

  const dialog = document.getElementById("token-dialog");
  const tokenInput = document.getElementById("token-input");
  let tokenWaiters = null;

  // Resolves with the token typed in, or null when the dialog is cancelled. Concurrent writes
  // share one dialog.
  function askToken(why) {
    document.getElementById("token-why").textContent = why;
    if (tokenWaiters) return new Promise((r) => tokenWaiters.push(r));
    tokenWaiters = [];
    tokenInput.value = "";
    dialog.showModal();
    tokenInput.focus();
    return new Promise((r) => tokenWaiters.push(r));
  }
  function closeToken(token) {
    const waiters = tokenWaiters || [];
    tokenWaiters = null;
    if (dialog.open) dialog.close();
    for (const r of waiters) r(token);
  }
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) return tokenInput.focus();
    sessionStorage.setItem(TOKEN_KEY, token);
    closeToken(token);
  });
  document.getElementById("token-cancel").addEventListener("click", () => closeToken(null));
  dialog.addEventListener("cancel", (e) => { e.preventDefault(); closeToken(null); });
  document.getElementById("token-forget").addEventListener("click", (e) => {
    sessionStorage.removeItem(TOKEN_KEY);
    e.currentTarget.textContent = "Token forgotten";
    setTimeout(() => { e.currentTarget.textContent = "Forget token"; }, 2000);
  });

  // Sends a command; asks for the token first when none is kept, and again after a 401 (the
  // router never saw the command then, so resending the same id is safe). Resolves with the
  // router's answer; throws with a sentence when nothing reached the router.
  async function postCommand(body) {
    let why = "Writes need the admin token (the contents of the gateway's token file). It is kept in this tab's session storage only.";
    for (;;) {
      let token = sessionStorage.getItem(TOKEN_KEY);
      if (!token) token = await askToken(why);
      if (!token) throw new Error("Not sent: writes need the admin token.");
      let res;
      try {
        res = await fetch(API + "/commands", {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
          body: JSON.stringify(body),
          cache: "no-store",
        });
      } catch (e) {
        throw new Error(`No answer from the gateway (${e.message}); look at the history before sending again.`);
      }
      const data = await res.json().catch(() => null);
      const error = (data && data.error) || res.statusText;
      if (res.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        why = `The gateway refused the token (401: ${error}). Enter the token again.`;
        continue;
      }
      if (res.status === 403) throw new Error(`Not sent: the gateway forbids writes from here (403: ${error}).`);
      if (!res.ok) throw new Error(`Not sent: the gateway refused the request (${res.status}: ${error}).`);
      return data;
    }
  }

  // crypto.randomUUID exists only in secure contexts; a console opened over plain http on a LAN
  // address is not one, so fall back to getRandomValues (available everywhere).
  function newId() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const x = [...b].map((n) => n.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  // ---- value rules: the router's ValueRule.check, so the form refuses exactly what it would ---

  const sameValue = (a, b) => (typeof a === "number" && typeof b === "number" ? a === b : a === b);
  function optionText(o) {
    return o.name != null ? `${o.name}=${fmtValue(o.value)}` : fmtValue(o.value);
  }
  function checkRule(rule, value) {
    const opts = rule.options || [];
    if (opts.length && !opts.some((o) => sameValue(o.value, value))) {
      return `${fmtValue(value)} is not one of the allowed values [${opts.map(optionText).join(", ")}]`;
    }
    const t = typeof value;
    const kind = rule.kind;
    if (kind === "bool" && t !== "boolean") return `expects a bool (${rule.type || kind}), got ${fmtValue(value)}`;
    if (kind === "string" && t !== "string") return `expects a string (${rule.type || kind}), got ${fmtValue(value)}`;
    if (kind === "integer" || kind === "number") {
      const article = kind === "integer" ? "an" : "a";
      if (t !== "number") return `expects ${article} ${kind} (${rule.type || kind}), got ${fmtValue(value)}`;
      if (!Number.isFinite(value)) return `${value} is not a finite number`;
      if (kind === "integer" && !Number.isInteger(value)) return `expects a whole number, got ${fmtNum(value)}`;
      if (rule.min != null && value < rule.min) return `${fmtNum(value)} is below the minimum ${fmtNum(rule.min)}`;
      if (rule.max != null && value > rule.max) return `${fmtNum(value)} is above the maximum ${fmtNum(rule.max)}`;
      // What the adapter refuses after the router: outside what the encoding holds, or
      // between the steps of a scaled integer register.
      const r = rule.range;
      if (r && (value < r[0] || value > r[1])) return `${fmtNum(value)} is outside what ${rule.type || "the register"} holds (${fmtNum(r[0])} to ${fmtNum(r[1])})`;
      if (rule.step) {
        const raw = (value - (rule.stepOrigin || 0)) / rule.step;
        if (Math.abs(raw - Math.round(raw)) > 1e-9 * Math.max(1, Math.abs(raw))) {
          return `${fmtNum(value)} is not a multiple of the scale ${fmtNum(rule.step)}${rule.stepOrigin ? " from " + fmtNum(rule.stepOrigin) : ""}`;
        }
      }
    }
    return null;
  }

  // A control for one value: a select for options and bools, a number input with the limits for
  // numbers, text otherwise. `current` preselects (selects) or prefills (inputs).
  function valueControl(name, rule, current) {
    const opts = rule.options || [];
    if (opts.length || rule.kind === "bool") {
      const list = opts.length ? opts : [{ value: true }, { value: false }];
      const sel = h("select", { name });
      // Without a current value that is an option, nothing is preselected: a click on Write
      // must never send the first option by accident.
      if (current == null || !list.some((o) => sameValue(o.value, current))) {
        sel.append(h("option", { value: "", text: "— choose —", selected: true }));
      }
      list.forEach((o, i) => {
        const label = o.name != null ? `${o.name} (${fmtValue(o.value)})` : fmtValue(o.value);
        sel.append(h("option", { value: String(i), text: label, selected: current != null && sameValue(o.value, current) }));
      });
      sel.choices = list;
      return sel;
    }
    if (rule.kind === "integer" || rule.kind === "number") {
      return h("input", {
        name, type: "number", inputmode: rule.kind === "integer" ? "numeric" : "decimal",
        step: rule.step || (rule.kind === "integer" ? "1" : "any"), min: limit(rule, 0), max: limit(rule, 1),
        value: current != null ? String(current) : null,
      });
    }
    return h("input", { name, type: "text", value: current != null ? String(current) : null, autocomplete: "off" });
  }
  // Reads a control: {value} or {error}; {empty: true} for an empty number/text field.
  function readControl(ctl, rule) {
    if (ctl.tagName === "SELECT") {
      return ctl.value === "" ? { empty: true, error: "choose a value" } : { value: ctl.choices[+ctl.value].value };
    }
    if (ctl.type === "number") {
      if (ctl.validity.badInput) return { error: "not a valid number" };
      const raw = ctl.value.trim();
      if (raw === "") return { empty: true, error: `enter ${rule.kind === "integer" ? "a whole number" : "a number"}` };
      return { value: Number(raw) };
    }
    return { value: ctl.value };
  }
  // The tighter of the map's min/max and what the encoding holds: 0 lower, 1 upper.
  function limit(rule, i) {
    const m = i === 0 ? rule.min : rule.max;
    const r = rule.range ? rule.range[i] : null;
    if (m == null) return r;
    if (r == null) return m;
    return i === 0 ? Math.max(m, r) : Math.min(m, r);
  }
  function ruleHint(rule, unit) {
    const parts = [rule.type || rule.kind];
    // A float32's range (±3.4e38) says nothing to an operator: only limits that bite are shown.
    const shown = (v) => (v != null && Math.abs(v) < 1e15 ? fmtNum(v) : null);
    const lo = shown(limit(rule, 0));
    const hi = shown(limit(rule, 1));
    if (lo != null || hi != null) parts.push(`${lo ?? "…"} to ${hi ?? "…"}`);
    if (rule.step && rule.step !== 1) parts.push(`steps of ${fmtNum(rule.step)}`);
    if (unit) parts.push(unit);
    return parts.join(" · ");
  }

  // ---- live state ----------------------------------------------------------------------------

  // device -> point -> latest reading; O(1) per reading whatever the rate.
  const live = new Map();
  let status = null;
  let page = null;

  function setTitle(gw) {
    document.title = gw ? `edgegate — ${gw}` : "edgegate";
    document.getElementById("brand-gw").textContent = gw ? "— " + gw : "";
  }

  function onReadings(data) {
    const list = data.readings || [];
    const watch = page && page.device;
    for (const r of list) {
      let m = live.get(r.device);
      if (!m) live.set(r.device, (m = new Map()));
      m.set(r.point, r);
      if (r.device === watch) page.reading(r);
    }
    if (watch) page.schedule();
  }

  let everOpen = false;
  let broken = false;
  function setConn(state) {
    connEl.textContent = state;
    connEl.className = "conn " + (state === "live" ? "conn-live" : "conn-wait");
  }

  // A slow reader can lag again and again at high rates: refetch at most every 5 s.
  let lastLag = 0;
  const handlers = {
    readings: (d) => {
      received.readings += (d.readings || []).length;
      onReadings(d);
    },
    command: (d) => page && page.command && page.command(d),
    device: (d) => page && page.deviceEvent && page.deviceEvent(d),
    uplink: (d) => {
      if (status) status.uplink = d.uplink;
      if (page && page.uplink) page.uplink(d);
    },
    readiness: (d) => {
      if (status) status.ready = d.ready;
      if (page && page.uplink) page.uplink(d);
    },
    lagged: (d) => {
      received.lagged++;
      received.dropped += d.dropped || 0;
      if (Date.now() - lastLag < 5000 || !page || !page.refresh) return;
      lastLag = Date.now();
      page.refresh();
    },
  };
  // What the stream brought, shown on the connection badge (its title and data-* attributes):
  // an operator, or a benchmark, can see whether this page keeps up.
  const received = { events: 0, readings: 0, lagged: 0, dropped: 0 };
  function showReceived() {
    connEl.dataset.events = received.events;
    connEl.dataset.readings = received.readings;
    connEl.dataset.lagged = received.lagged;
    connEl.dataset.dropped = received.dropped;
    connEl.title = `${received.events} events, ${received.readings} readings received; ` +
      `${received.lagged} times too slow (${received.dropped} events missed)`;
  }
  function dispatch(name, data) {
    received.events++;
    const fn = handlers[name];
    if (!fn) return;
    try { fn(JSON.parse(data)); } catch (err) { setError("events", `Event stream: ${err.message}`); }
  }

  // The event stream is read with fetch, not EventSource: EventSource cannot send the token,
  // and a listener beyond loopback wants it for reads too. The server-sent events are parsed
  // here (`event:` and `data:` lines, a blank line ends one); a stream that ends or fails is
  // opened again after a pause, and what was missed meanwhile is fetched again.
  async function connect() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    const headers = { Accept: "text/event-stream" };
    if (token) headers.Authorization = "Bearer " + token;
    try {
      const res = await fetch(API + "/events", { headers, cache: "no-store" });
      if (!res.ok || !res.body) {
        const why = res.status === 401 ? "the gateway wants the admin token" : res.statusText;
        throw new Error(`${res.status} ${why}`);
      }
      setConn("live");
      setError("events", null);
      if (everOpen && broken && page && page.refresh) page.refresh();
      everOpen = true;
      broken = false;
      const reader = res.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        // Every complete event in the buffer, then keep the incomplete rest (one copy per chunk).
        let start = 0;
        let end;
        while ((end = buffer.indexOf("\n\n", start)) >= 0) {
          let name = "message";
          const data = [];
          for (const line of buffer.slice(start, end).split("\n")) {
            if (line.startsWith("event:")) name = line.slice(6).trim();
            else if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
          }
          if (data.length) dispatch(name, data.join("\n"));
          start = end + 2;
        }
        buffer = buffer.slice(start);
      }
    } catch (e) {
      setError("events", `Event stream: ${e.message}; retrying`);
    }
    broken = true;
    setConn("reconnecting");
    setTimeout(connect, 3000);
  }

  // ---- pages ---------------------------------------------------------------------------------

  function newPage(name) {
    const p = {
      name, alive: true, timers: [],
      every(ms, fn) { this.timers.push(setInterval(fn, ms)); },
      stop() { this.alive = false; this.timers.forEach(clearInterval); },
      // Shown once: later loads update the same nodes in place, so focus and references survive.
      show(...nodes) {
        if (!this.alive || this.shown) return;
        this.shown = true;
        main.replaceChildren(...nodes.flat(Infinity).filter(Boolean));
        main.dataset.page = name;
      },
    };
    return p;
  }
  // A loader that never overlaps itself and reports into the banner under `key`.
  function loader(p, key, fn) {
    let busy = false;
    return async () => {
      if (busy || !p.alive) return;
      busy = true;
      try {
        await fn();
        setError(key, null);
      } catch (e) {
        if (p.alive) setError(key, e.message);
      } finally {
        busy = false;
      }
    };
  }
  function pager(onMove) {
    const prev = h("button", { type: "button", "data-testid": "pager-prev", text: "‹ Previous", onclick: () => onMove(-1) });
    const next = h("button", { type: "button", "data-testid": "pager-next", text: "Next ›", onclick: () => onMove(1) });
    const info = h("span", { "data-testid": "pager-info" });
    return {
      el: h("div", { class: "pager" }, prev, info, next),
      set(offset, shown, total) {
        info.textContent = total === 0 ? "0 of 0" : `${offset + 1}–${offset + shown} of ${total}`;
        prev.disabled = offset === 0;
        next.disabled = offset + shown >= total;
      },
    };
  }
  function table(cols) {
    const tbody = h("tbody");
    const tbl = h("table", {}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { class: c[1] || null, text: c[0] })))), tbody);
    return { tbl, tbody, box: h("div", { class: "scroll" }, tbl) };
  }

  // Overview: built once, then filled in place every 2 s so elements stay the same nodes.
  function overviewPage() {
    const p = newPage("overview");
    const f = {};
    const dd = (id, extra) => (f[id] = h("dd", Object.assign({ "data-testid": id }, extra)));
    const item = (label, el) => [h("dt", { text: label }), el];
    const card = (title, ...rows) => h("section", { class: "card" }, h("h2", { text: title }), h("dl", {}, rows));
    const diag = h("ul", { class: "diag" });
    const hour = h("ul", { class: "counts", "data-testid": "commands-hour" });
    const view = [
      h("h1", {}, "Overview"),
      h("div", { class: "cards" },
        card("Gateway", item("Id", dd("gateway-id")), item("Version", dd("gateway-version")),
          item("Ready", (f.ready = h("dd"))), item("Started", (f.started = h("dd")))),
        card("Uplink", item("State", h("dd", {}, (f.uplink = h("span", { "data-testid": "uplink-state", class: "badge" })))),
          item("Hub", dd("hub-address")), item("Since", dd("hub-since")),
          item("Reconnects", dd("hub-reconnects")), item("Last error", (f.hubError = h("dd")))),
        card("Outbox", item("Messages", dd("outbox-messages")), item("Bytes", dd("outbox-bytes")),
          item("Oldest", dd("outbox-oldest")), item("Dropped messages", (f.droppedMessages = h("dd"))),
          item("Dropped readings", dd("dropped-readings"))),
        card("Devices", item("Readings", dd("readings-rate")), item("Devices", (f.devices = h("dd"))),
          item("Console streams", (f.clients = h("dd")))),
        h("section", { class: "card" }, h("h2", { text: "Map reload" }),
          h("dl", {}, item("State", h("dd", {}, (f.reload = h("span", { "data-testid": "reload-state", class: "badge" })))),
            item("When", (f.reloadAt = h("dd"))), item("Message", (f.reloadMsg = h("dd")))), diag),
        h("section", { class: "card" }, h("h2", { text: "Commands in the last hour" }), hour,
          h("p", {}, h("a", { href: "#/commands", text: "History" })))),
    ];
    const fill = (s) => {
      const hub = s.hub || {};
      const ob = s.outbox || {};
      const dv = s.devices || {};
      const rl = s.reload || {};
      setTitle(s.gateway);
      f["gateway-id"].textContent = s.gateway;
      f["gateway-version"].textContent = s.version;
      f.ready.replaceChildren(badge(s.ready ? "ready" : "not ready", s.ready ? "ok" : "bad"));
      setAge(f.started, s.started_at);
      f.uplink.textContent = s.uplink;
      f.uplink.className = "badge b-" + s.uplink;
      f["hub-address"].textContent = hub.address ? `${hub.address} (${hub.profile})` : "—";
      setAge(f["hub-since"], hub.since);
      f["hub-reconnects"].textContent = hub.reconnects ?? "—";
      f.hubError.textContent = hub.last_error || "—";
      f["outbox-messages"].textContent = ob.messages ?? "—";
      f["outbox-bytes"].textContent = fmtBytes(ob.bytes);
      f["outbox-bytes"].title = ob.bytes != null ? ob.bytes + " bytes" : "";
      f["outbox-oldest"].textContent = fmtSeconds(ob.oldest_age_seconds);
      f.droppedMessages.textContent = ob.dropped_messages ?? "—";
      f["dropped-readings"].textContent = ob.dropped_readings ?? "—";
      f["readings-rate"].textContent = s.readings_per_second != null ? s.readings_per_second.toFixed(1) + " /s" : "—";
      f.devices.replaceChildren(h("a", { href: "#/devices", text: `${dv.total ?? 0} devices` }), " · ",
        badge(`${dv.up ?? 0} up`, dv.up ? "up" : "none"), " ", badge(`${dv.down ?? 0} down`, dv.down ? "down" : "none"),
        dv.unknown ? [" ", badge(`${dv.unknown} unknown`, "unknown")] : []);
      f.clients.textContent = s.event_clients ?? "—";
      f.reload.textContent = rl.state || "none";
      f.reload.className = "badge b-" + (rl.state || "none");
      setAge(f.reloadAt, rl.at);
      if (rl.trigger && rl.at) f.reloadAt.append(` (${rl.trigger})`);
      f.reloadMsg.textContent = rl.message || "—";
      diag.replaceChildren(...(rl.diagnostics || []).map((d) => h("li", { "data-testid": "reload-diagnostic", text: d })));
      const counts = Object.entries(s.commands_last_hour || {});
      hour.replaceChildren(...(counts.length
        ? counts.map(([st, n]) => h("li", {}, badge(st), " ", h("b", { "data-status": st, text: String(n) })))
        : [h("li", { class: "muted", text: "none" })]));
    };
    const load = loader(p, "page", async () => {
      const s = await getJSON("/status");
      if (!p.alive) return;
      status = s;
      fill(s);
      p.show(...view);
    });
    load();
    p.every(2000, load);
    p.refresh = load;
    p.uplink = () => status && fill(status);
    return p;
  }

  // Devices: the whole list is fetched (map order), filtered in memory and only one page of 100
  // rows is in the DOM, so 10,000 devices cost one filter pass per keystroke.
  const devFilter = { text: "", problems: false, offset: 0 };
  const isProblem = (d) => d.state !== "up" || d.bad_points > 0 || d.uncertain_points > 0;
  function devicesPage() {
    const p = newPage("devices");
    let list = [];
    let byId = new Map();
    let rows = new Map();
    const t = table([["Device"], ["Protocol"], ["State"], ["Points", "num"], ["Quality"], ["Poll"], ["Overruns", "num"], ["Last reading"], ["Last error"]]);
    const search = h("input", { type: "search", "data-testid": "device-filter", placeholder: "Filter by id, protocol, error", value: devFilter.text, "aria-label": "Filter devices" });
    const problems = h("input", { type: "checkbox", "data-testid": "problems-only", checked: devFilter.problems });
    const summary = h("span", { class: "muted" });
    const pg = pager((dir) => { devFilter.offset += dir * DEVICE_PAGE; render(); });
    search.addEventListener("input", () => { devFilter.text = search.value; devFilter.offset = 0; render(); });
    problems.addEventListener("change", () => { devFilter.problems = problems.checked; devFilter.offset = 0; render(); });
    t.tbody.addEventListener("click", (e) => {
      const tr = e.target.closest("tr[data-device]");
      if (tr && !e.target.closest("a")) location.hash = "#/devices/" + enc(tr.dataset.device);
    });
    const view = [h("h1", {}, "Devices"),
      h("div", { class: "toolbar" }, search, h("label", {}, problems, " Problems only"), summary), t.box, pg.el];

    function cell(field, cls) { return h("td", { "data-field": field, class: cls || null }); }
    function makeRow(d) {
      const c = {
        link: h("a", { "data-testid": "device-link", href: "#/devices/" + enc(d.id), text: d.id }),
        protocol: cell("protocol"), state: cell("state"), points: cell("points", "num"), quality: h("td"),
        poll: cell("poll"), overruns: cell("overruns", "num"), last: h("td"), error: cell("last-error", "wrap"),
      };
      const tr = h("tr", { "data-device": d.id, class: "clickable" }, h("td", {}, c.link), c.protocol, c.state, c.points, c.quality, c.poll, c.overruns, c.last, c.error);
      tr.c = c;
      return tr;
    }
    function fillRow(tr, d) {
      const c = tr.c;
      c.protocol.textContent = d.protocol;
      c.state.replaceChildren(badge(d.state));
      c.points.textContent = d.points;
      const q = [];
      if (d.bad_points) q.push(badge(`${d.bad_points} bad`, "bad"), " ");
      if (d.uncertain_points) q.push(badge(`${d.uncertain_points} uncertain`, "uncertain"));
      c.quality.replaceChildren(...(q.length ? q : [badge("all good", "good")]));
      c.poll.textContent = d.poll_seconds != null ? fmtNum(d.poll_seconds) + " s" : "—";
      c.overruns.textContent = d.polls ? d.polls.overruns : "—";
      setAge(c.last, d.last_reading);
      c.error.textContent = d.last_error || "—";
      c.error.title = d.last_error_at ? "at " + new Date(d.last_error_at).toLocaleString() : "";
    }
    function render() {
      const text = devFilter.text.trim().toLowerCase();
      const shown = list.filter((d) => (!devFilter.problems || isProblem(d)) && (!text || d.hay.includes(text)));
      const total = shown.length;
      devFilter.offset = Math.max(0, Math.min(devFilter.offset, Math.floor(Math.max(total - 1, 0) / DEVICE_PAGE) * DEVICE_PAGE));
      const slice = shown.slice(devFilter.offset, devFilter.offset + DEVICE_PAGE);
      const next = new Map();
      for (const d of slice) {
        const tr = rows.get(d.id) || makeRow(d);
        fillRow(tr, d);
        next.set(d.id, tr);
      }
      rows = next;
      t.tbody.replaceChildren(...(slice.length ? next.values() : [h("tr", {}, h("td", { colspan: "9", class: "empty", text: list.length ? "No device matches." : "No devices." }))]));
      pg.set(devFilter.offset, slice.length, total);
      const bad = list.reduce((n, d) => n + (isProblem(d) ? 1 : 0), 0);
      summary.textContent = `${list.length} devices, ${bad} with problems`;
    }
    let timer = null;
    const load = loader(p, "page", async () => {
      const data = await getJSON("/devices");
      if (!p.alive) return;
      setTitle(data.gateway);
      list = data.devices || [];
      byId = new Map(list.map((d) => [d.id, d]));
      for (const d of list) d.hay = `${d.id} ${d.protocol} ${d.last_error || ""}`.toLowerCase();
      render();
      p.show(...view);
    });
    // Large sites refresh less often: the list is fetched whole.
    const cycle = async () => {
      await load();
      if (p.alive) timer = setTimeout(cycle, list.length > 2000 ? 15000 : 5000);
    };
    cycle();
    const stop = p.stop;
    p.stop = function () { clearTimeout(timer); stop.call(this); };
    p.refresh = load;
    p.deviceEvent = (ev) => {
      const d = byId.get(ev.device);
      if (!d) return;
      d.state = ev.state;
      if (ev.reason) { d.last_error = ev.reason; d.last_error_at = new Date().toISOString(); }
      const tr = rows.get(ev.device);
      if (tr) fillRow(tr, d);
    };
    return p;
  }

  const numeric = (pt) => pt.kind === "integer" || pt.kind === "number";

  // Device: points in map order, paged at 200; live readings update the row of a point in the
  // next animation frame (one DOM write per point per frame, whatever the event rate).
  function devicePage(id) {
    const p = newPage("device");
    p.device = id;
    let detail = null;
    let points = [];
    const byName = new Map();
    let rows = new Map();
    const dirty = new Set();
    const trendDirty = new Set();
    const trends = new Map();
    let step = 5;
    let windowS = 600;
    let frame = 0;
    let offset = 0;
    let filterText = "";

    const head = { id: h("span", { "data-testid": "device-id", class: "mono" }), state: h("span", { "data-testid": "device-state", class: "badge" }) };
    const facts = h("p", { class: "muted" });
    const errLine = h("p", { class: "muted" });
    const search = h("input", { type: "search", "data-testid": "point-filter", placeholder: "Filter points", "aria-label": "Filter points" });
    const count = h("span", { class: "muted" });
    const pg = pager((dir) => { offset += dir * POINT_PAGE; render(); });
    const t = table([["Point"], ["Value", "num"], ["Unit"], ["Quality"], ["Age"], ["Trend"], ["Reason"], ["Type"]]);
    search.addEventListener("input", () => { filterText = search.value.trim().toLowerCase(); offset = 0; render(); });
    const view = [
      h("p", {}, h("a", { href: "#/devices", text: "‹ Devices" })),
      h("h1", {}, head.id, head.state, h("a", { "data-testid": "device-commands", href: "#/commands/" + enc(id), text: "Commands…" })),
      facts, errLine, h("div", { class: "toolbar" }, search, count), t.box, pg.el,
    ];

    function makeRow(pt) {
      const c = {
        value: h("td", { "data-field": "value", class: "num" }), unit: h("td", { "data-field": "unit" }),
        quality: h("td", { "data-field": "quality" }), reason: h("td", { "data-field": "reason", class: "wrap" }),
        age: h("td", { "data-field": "age" }), trend: h("td"),
      };
      if (numeric(pt)) {
        c.svg = document.createElementNS(svgNS, "svg");
        c.svg.setAttribute("data-trend", pt.point);
        c.svg.setAttribute("class", "trend");
        c.svg.setAttribute("viewBox", "0 0 120 26");
        c.svg.setAttribute("preserveAspectRatio", "none");
        c.svg.setAttribute("role", "img");
        c.trend.append(c.svg);
        drawTrend(pt, c.svg);
      }
      const access = pt.access === "read" ? "" : pt.access === "write" ? " (write only)" : " (writable)";
      const tr = h("tr", { "data-point": pt.point }, h("td", { class: "mono", text: pt.point, title: pt.point + access }),
        c.value, c.unit, c.quality, c.age, c.trend, c.reason, h("td", { class: "muted", text: pt.type }));
      tr.c = c;
      fillRow(tr, pt);
      return tr;
    }
    function fillRow(tr, pt) {
      const c = tr.c;
      const q = pt.quality;
      tr.className = "q-" + (q || "none");
      c.value.textContent = fmtValue(pt.value);
      const opt = pt.options && pt.value != null && pt.options.find((o) => sameValue(o.value, pt.value));
      c.value.title = opt && opt.name != null ? opt.name : "";
      c.unit.textContent = pt.unit || "";
      if (c.q !== q) {
        c.quality.replaceChildren(q ? badge(q) : badge("never read", "none"));
        c.q = q;
      }
      c.reason.textContent = pt.reason || "";
      setAge(c.age, pt.ts);
    }
    function drawTrend(pt, svg) {
      const tr = trends.get(pt.point);
      const s = tr ? tr.samples : [];
      const vals = s.filter((x) => x[1] != null).map((x) => x[1]);
      if (!vals.length) {
        svg.replaceChildren(h0("title", "no trend yet"));
        return;
      }
      let lo = Math.min(...vals);
      let hi = Math.max(...vals);
      const span = hi - lo || Math.abs(hi) * 0.1 || 1;
      if (hi === lo) { lo -= span / 2; hi += span / 2; }
      // The x axis spans the window, or less while the daemon has not filled it yet (just
      // started, or the point is new), so a young trend is not squeezed into one corner.
      const end = s[s.length - 1][0] + step;
      const start = Math.max(end - windowS, s[0][0]);
      const spanT = Math.max(end - start, step);
      const x = (t) => (((t - start) / spanT) * 120).toFixed(1);
      const y = (v) => (24 - ((v - lo) / (hi - lo)) * 22).toFixed(1);
      // A null sample (bad) or a missing bucket breaks the line: a gap, not an invented value.
      const lines = [];
      let cur = [];
      let prevT = null;
      for (const [t, v] of s) {
        if (t < start) continue;
        if (v == null || (prevT != null && t - prevT > step * 1.5)) {
          if (cur.length) lines.push(cur);
          cur = [];
        }
        if (v != null) cur.push(`${x(t)},${y(v)}`);
        prevT = t;
      }
      if (cur.length) lines.push(cur);
      const kids = [h0("title", `${fmtNum(Math.min(...vals))} to ${fmtNum(Math.max(...vals))}${pt.unit ? " " + pt.unit : ""} over the last ${spanT < 120 ? Math.round(spanT) + " s" : Math.round(spanT / 60) + " min"}`)];
      for (const l of lines) {
        const pl = document.createElementNS(svgNS, "polyline");
        // One sample alone would draw nothing: give it a short flat stroke.
        if (l.length === 1) l.push(`${(+l[0].split(",")[0] + 1.5).toFixed(1)},${l[0].split(",")[1]}`);
        pl.setAttribute("points", l.join(" "));
        kids.push(pl);
      }
      svg.replaceChildren(...kids);
    }
    function h0(tag, text) {
      const el = document.createElementNS(svgNS, tag);
      el.textContent = text;
      return el;
    }
    function render() {
      const shown = filterText ? points.filter((pt) => pt.hay.includes(filterText)) : points;
      offset = Math.max(0, Math.min(offset, Math.floor(Math.max(shown.length - 1, 0) / POINT_PAGE) * POINT_PAGE));
      const slice = shown.slice(offset, offset + POINT_PAGE);
      const next = new Map();
      for (const pt of slice) {
        let tr = rows.get(pt.point);
        if (tr) fillRow(tr, pt);
        else tr = makeRow(pt);
        next.set(pt.point, tr);
      }
      rows = next;
      t.tbody.replaceChildren(...(slice.length ? next.values() : [h("tr", {}, h("td", { colspan: "8", class: "empty", text: points.length ? "No point matches." : "This device has no points." }))]));
      pg.set(offset, slice.length, shown.length);
      pg.el.hidden = shown.length <= POINT_PAGE && offset === 0;
      count.textContent = `${points.length} points`;
    }
    function fillHead(d) {
      head.id.textContent = d.id;
      head.state.textContent = d.state;
      head.state.className = "badge b-" + d.state;
      facts.textContent = `${d.protocol} · polled every ${fmtNum(d.poll_seconds)} s · polls ok ${d.polls ? d.polls.ok : "—"}, errors ${d.polls ? d.polls.error : "—"}, overruns ${d.polls ? d.polls.overruns : "—"}`;
      errLine.textContent = d.last_error ? `Last error: ${d.last_error}` : "";
      if (d.last_error_at) errLine.title = new Date(d.last_error_at).toLocaleString();
    }
    const load = loader(p, "page", async () => {
      const d = await getJSON("/devices/" + enc(id));
      if (!p.alive) return;
      detail = d;
      points = d.points || [];
      byName.clear();
      const latest = live.get(id);
      for (const pt of points) {
        pt.hay = pt.point.toLowerCase();
        // A reading that arrived while the request was under way is newer than the answer.
        const r = latest && latest.get(pt.point);
        if (r && (!pt.ts || Date.parse(r.ts) > Date.parse(pt.ts))) applyReading(pt, r);
        byName.set(pt.point, pt);
      }
      fillHead(d);
      render();
      p.show(...view);
      loadTrends();
    });
    const loadTrends = loader(p, "trends", async () => {
      const d = await getJSON("/devices/" + enc(id) + "/trends");
      if (!p.alive) return;
      step = d.step_seconds || step;
      windowS = d.window_seconds || windowS;
      trends.clear();
      for (const tp of d.points || []) trends.set(tp.point, { samples: tp.samples || [] });
      for (const [name, tr] of rows) if (tr.c.svg) drawTrend(byName.get(name), tr.c.svg);
    });
    function applyReading(pt, r) {
      pt.value = r.value === undefined ? null : r.value;
      pt.quality = r.quality;
      pt.reason = r.reason;
      pt.ts = r.ts;
      if (r.unit) pt.unit = r.unit;
    }
    // Extends the point's trend ring with a reading, in the daemon's buckets, so the line moves
    // between the 5 s refetches.
    function extendTrend(pt, r) {
      const tsec = Date.parse(r.ts) / 1000;
      if (Number.isNaN(tsec)) return;
      const v = r.quality === "bad" || typeof r.value !== "number" ? null : r.value;
      const bucket = Math.floor(tsec / step) * step;
      let tr = trends.get(pt.point);
      if (!tr) trends.set(pt.point, (tr = { samples: [] }));
      const s = tr.samples;
      const last = s[s.length - 1];
      if (last && last[0] === bucket) last[1] = v;
      else if (!last || bucket > last[0]) s.push([bucket, v]);
      else return;
      while (s.length && s[0][0] <= bucket - windowS) s.shift();
      trendDirty.add(pt.point);
    }
    p.reading = (r) => {
      const pt = byName.get(r.point);
      if (!pt) return;
      applyReading(pt, r);
      if (numeric(pt)) extendTrend(pt, r);
      if (rows.has(r.point)) dirty.add(r.point);
    };
    p.schedule = () => {
      if (frame || !dirty.size) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        for (const name of dirty) {
          const tr = rows.get(name);
          if (tr) fillRow(tr, byName.get(name));
        }
        dirty.clear();
      });
    };
    // Trend lines are redrawn at most once a second: enough for a 10-minute window.
    p.tick = () => {
      for (const name of trendDirty) {
        const tr = rows.get(name);
        if (tr && tr.c.svg) drawTrend(byName.get(name), tr.c.svg);
      }
      trendDirty.clear();
    };
    p.deviceEvent = (ev) => {
      if (ev.device !== id || !detail) return;
      detail.state = ev.state;
      if (ev.reason) { detail.last_error = ev.reason; detail.last_error_at = new Date().toISOString(); }
      fillHead(detail);
    };
    load();
    p.every(5000, loadTrends);
    p.every(15000, load);
    p.refresh = load;
    const stop = p.stop;
    p.stop = function () { cancelAnimationFrame(frame); stop.call(this); };
    return p;
  }

  // Commands: write forms for the writable points, forms for the named commands, and the
  // history (filtered to the device), prepended live from `command` events.
  function commandsPage(id) {
    const p = newPage("commands");
    let detail = null;
    const nowSpans = new Map();
    const hist = table([["Age"], ["Device"], ["What"], ["By"], ["Status"], ["Duration", "num"], ["Result"], ["Id"]]);
    hist.tbl.setAttribute("data-testid", "command-history");
    const histRows = new Map();
    const chooser = h("select", { "aria-label": "Device" }, h("option", { value: "", text: "Choose a device…" }));
    chooser.addEventListener("change", () => { if (chooser.value) location.hash = "#/commands/" + enc(chooser.value); });

    function entryRow(e) {
      let tr = histRows.get(e.id);
      if (!tr) {
        tr = h("tr", { "data-command-id": e.id });
        histRows.set(e.id, tr);
      }
      const values = valuesText(e.values, e.device === id ? detail : null);
      tr.replaceChildren(
        setAge(h("td", { "data-field": "age" }), e.ts),
        h("td", {}, h("a", { href: "#/commands/" + enc(e.device), text: e.device })),
        h("td", { "data-field": "what", class: "mono", text: e.what || "—" }),
        h("td", { "data-field": "by", text: e.by || "—" }),
        h("td", { "data-field": "status" }, badge(e.status)),
        h("td", { "data-field": "duration", class: "num", text: fmtMs(e.duration_ms) }),
        h("td", { class: "wrap", text: [e.message, values].filter(Boolean).join(" — ") }),
        h("td", { class: "mono muted", title: e.id, text: String(e.id).slice(0, 8) }));
      return tr;
    }
    function addEntry(e, atTop) {
      if (id && e.device !== id) return;
      const fresh = !histRows.has(e.id);
      const tr = entryRow(e);
      if (atTop || !fresh) {
        if (fresh) hist.tbody.prepend(tr);
      } else hist.tbody.append(tr);
      const empty = hist.tbody.querySelector("tr.none");
      if (empty) empty.remove();
      while (hist.tbody.rows.length > HISTORY_MAX) {
        const last = hist.tbody.lastElementChild;
        histRows.delete(last.dataset.commandId);
        last.remove();
      }
    }
    const loadHistory = loader(p, "history", async () => {
      const data = await getJSON("/commands?limit=500");
      if (!p.alive) return;
      histRows.clear();
      hist.tbody.replaceChildren();
      for (const e of data.commands || []) addEntry(e, false);
      if (!hist.tbody.rows.length) hist.tbody.append(h("tr", { class: "none" }, h("td", { colspan: "8", class: "empty", text: "No commands yet." })));
    });

    function valuesText(values, d) {
      if (!values) return "";
      const unitOf = (n) => {
        const pt = d && d.points ? d.points.find((x) => x.point === n) : null;
        return pt ? pt.unit : null;
      };
      return Object.entries(values).map(([k, v]) => `${k} = ${withUnit(v, unitOf(k))}`).join(", ");
    }
    function showResult(form, r) {
      for (const old of document.querySelectorAll("[data-testid=command-result]")) old.remove();
      form.append(h("div", { class: "result", "data-testid": "command-result" },
        h("div", {}, h("span", { "data-field": "status", class: "badge b-" + r.status, text: r.status }), " ",
          h("span", { class: "mono muted", text: r.id || "" })),
        h("div", { "data-field": "message", text: r.message || "" }),
        h("div", { "data-field": "values", text: valuesText(r.values, detail) })));
    }
    // Validates every control; sends nothing when one is refused.
    async function submit(form, build) {
      const err = form.querySelector("[data-field=error]");
      err.textContent = "";
      const body = build();
      if (typeof body === "string") {
        err.textContent = body + " — not sent.";
        for (const old of form.querySelectorAll("[data-testid=command-result]")) old.remove();
        return;
      }
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      try {
        const r = await postCommand(body);
        if (!p.alive) return;
        showResult(form, r || { id: body.id, status: "?", message: "empty answer" });
        // The `command` event normally brings the history row; fetch it if the stream is down.
        setTimeout(() => { if (p.alive && !histRows.has(body.id)) loadHistory(); }, 1500);
      } catch (e) {
        if (p.alive) err.textContent = e.message;
      } finally {
        btn.disabled = false;
      }
    }
    function pointRule(pt) {
      return { kind: pt.kind, type: pt.type, min: pt.min, max: pt.max, options: pt.options, range: pt.range, step: pt.step, stepOrigin: pt.step_origin };
    }
    function writeForm(pt) {
      const rule = pointRule(pt);
      const ctl = valueControl("value", rule, pt.kind === "bool" || (pt.options && pt.options.length) ? pt.value : null);
      const now = h("span");
      nowSpans.set(pt.point, { span: now, pt });
      showNow(pt.point, pt);
      const form = h("form", { "data-write": pt.point, novalidate: true },
        h("h3", { class: "mono", text: pt.point }),
        h("div", { class: "row" }, h("label", {}, `Value${pt.unit ? " (" + pt.unit + ")" : ""}`, ctl), h("button", { type: "submit", text: "Write" })),
        h("div", { class: "hint" }, ruleHint(rule, pt.unit) + " · ", now),
        h("div", { "data-field": "error", role: "alert" }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        submit(form, () => {
          const v = readControl(ctl, rule);
          if (v.error) return `${pt.point}: ${v.error}`;
          const why = checkRule(rule, v.value);
          if (why) return `${pt.point}: ${why}`;
          return { id: newId(), device: id, write: { [pt.point]: v.value } };
        });
      });
      return form;
    }
    function commandForm(cmd) {
      const args = (cmd.args || []).map((a) => {
        // An argument written straight to a point ("$celsius") also meets that point's encoding.
        const target = Object.entries(cmd.write || {}).find(([, v]) => v === "$" + a.name);
        const pt = target && (detail.points || []).find((x) => x.point === target[0]);
        const rule = { kind: a.type, type: a.type, min: a.min, max: a.max, options: a.options };
        if (pt) Object.assign(rule, { type: pt.type, range: pt.range, step: pt.step, stepOrigin: pt.step_origin });
        return { a, rule, ctl: valueControl(a.name, rule, a.default) };
      });
      const writes = Object.entries(cmd.write || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
      const form = h("form", { "data-command": cmd.name, novalidate: true },
        h("h3", { class: "mono", text: cmd.name }),
        cmd.description ? h("div", { class: "hint", text: cmd.description }) : null,
        args.map(({ a, rule, ctl }) => h("label", {}, a.name, ctl, h("span", { class: "hint", text: ruleHint(rule) + (a.default != null ? ` · default ${fmtValue(a.default)}` : "") }))),
        writes ? h("div", { class: "hint mono", text: "writes " + writes }) : null,
        h("div", {}, h("button", { type: "submit", text: "Run" })),
        h("div", { "data-field": "error", role: "alert" }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        submit(form, () => {
          const out = {};
          for (const { a, rule, ctl } of args) {
            const v = readControl(ctl, rule);
            // An emptied field leaves the argument to its default, as the router does.
            if (v.empty && a.default != null) continue;
            if (v.error) return `${a.name}: ${v.error}`;
            const why = checkRule(rule, v.value);
            if (why) return `${a.name}: ${why}`;
            out[a.name] = v.value;
          }
          return { id: newId(), device: id, command: cmd.name, args: out };
        });
      });
      return form;
    }

    const loadDevices = loader(p, "devices", async () => {
      const data = await getJSON("/devices");
      if (!p.alive) return;
      setTitle(data.gateway);
      chooser.replaceChildren(h("option", { value: "", text: "Choose a device…" }),
        ...(data.devices || []).map((d) => h("option", { value: d.id, text: d.id, selected: d.id === id })));
    });
    const load = loader(p, "page", async () => {
      const jobs = [loadHistory(), loadDevices()];
      let sections = [];
      if (id) {
        detail = await getJSON("/devices/" + enc(id));
        const writable = (detail.points || []).filter((pt) => pt.access === "readwrite" || pt.access === "write");
        sections = [
          h("h2", { text: "Write a point" }),
          writable.length ? h("div", { class: "forms" }, writable.map(writeForm)) : h("p", { class: "muted", text: "This device has no writable points." }),
          h("h2", { text: "Named commands" }),
          (detail.commands || []).length ? h("div", { class: "forms" }, detail.commands.map(commandForm)) : h("p", { class: "muted", text: "This device has no named commands." }),
        ];
      }
      await Promise.all(jobs);
      if (!p.alive) return;
      p.show(
        h("h1", {}, "Commands", id ? h("span", { class: "mono", "data-testid": "device-id", text: id }) : null,
          id ? h("a", { href: "#/devices/" + enc(id), text: "Device…" }) : null),
        h("div", { class: "chooser" }, h("label", {}, "Device ", chooser)),
        sections, h("h2", { text: id ? "History of this device" : "History" }), hist.box);
    });
    // The current value beside each write form follows the readings, once per frame at most.
    p.device = id;
    const latest = new Map();
    let frame = 0;
    function showNow(name, r) {
      const n = nowSpans.get(name);
      if (!n) return;
      const q = r.quality && r.quality !== "good" ? ` (${r.quality})` : "";
      n.span.textContent = r.ts ? `now ${withUnit(r.value, n.pt.unit)}${q}` : "never read";
    }
    p.reading = (r) => { if (nowSpans.has(r.point)) latest.set(r.point, r); };
    p.schedule = () => {
      if (frame || !latest.size) return;
      frame = requestAnimationFrame(() => {
        frame = 0;
        for (const [name, r] of latest) showNow(name, r);
        latest.clear();
      });
    };
    load();
    p.refresh = loadHistory;
    p.command = (ev) => {
      const r = ev.result || {};
      addEntry({ id: r.id, device: ev.device, what: ev.what, by: ev.by, status: r.status, message: r.message, values: r.values, ts: r.ts, duration_ms: ev.duration_ms }, true);
    };
    return p;
  }

  // ---- routing -------------------------------------------------------------------------------

  const nav = document.getElementById("nav");
  const navToggle = document.getElementById("nav-toggle");
  navToggle.addEventListener("click", () => {
    const open = nav.classList.toggle("open");
    navToggle.setAttribute("aria-expanded", String(open));
  });

  function route() {
    if (page) page.stop();
    nav.classList.remove("open");
    navToggle.setAttribute("aria-expanded", "false");
    const parts = location.hash.replace(/^#\/?/, "").split("/");
    let arg = null;
    try {
      arg = parts[1] ? decodeURIComponent(parts[1]) : null;
    } catch {
      arg = parts[1];
    }
    const section = parts[0] || "overview";
    for (const a of nav.querySelectorAll("a")) a.classList.toggle("active", a.dataset.testid === "nav-" + section);
    main.removeAttribute("data-page");
    main.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
    setError("page", null);
    setError("trends", null);
    setError("history", null);
    setError("devices", null);
    if (section === "devices" && arg) page = devicePage(arg);
    else if (section === "devices") page = devicesPage();
    else if (section === "commands") page = commandsPage(arg);
    else page = overviewPage();
  }

  // Once a second: ages of what is visible, and trend lines that received readings.
  setInterval(() => {
    for (const el of main.querySelectorAll("[data-ts]")) el.textContent = ageText(+el.dataset.ts);
    if (page && page.tick) page.tick();
    showReceived();
  }, 1000);

  window.addEventListener("hashchange", route);
  getJSON("/status").then((s) => { status = s; setTitle(s.gateway); }).catch((e) => setError("status", e.message));
  route();
  connect();
})();
