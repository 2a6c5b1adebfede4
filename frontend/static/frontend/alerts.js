// Alert wall (/alerts/) and alert detail (/alerts/<id>/). No inline script anywhere (the CSP):
// the wall's settings come from the <script type="application/json" id="alert-wall-config"> block.
"use strict";

(() => {
  const typing = (event) => event.target.closest("input, select, textarea, [contenteditable]") ||
    event.ctrlKey || event.metaKey || event.altKey || document.querySelector("dialog[open]");

  // --- alert detail: a / d move to the decision forms, Esc goes back to the wall --------------
  const ackField = document.querySelector("[data-shortcut-a]");
  const dismissField = document.querySelector("[data-shortcut-d]");
  if (!document.querySelector("[data-alert-wall]")) {
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && !document.querySelector("dialog[open]")) { location.href = "/alerts/"; return; }
      if (typing(event)) return;
      if (event.key === "a" && ackField) { event.preventDefault(); ackField.form.querySelector("button").focus(); }
      if (event.key === "d" && dismissField) { event.preventDefault(); dismissField.focus(); }
    });
    return;
  }

  // --- alert wall ------------------------------------------------------------------------------
  const table = document.querySelector("[data-alert-wall]");
  // the list (<tbody id="wall-rows">) is swapped by the filter form (htmx): these follow it
  let body = table.tBodies[0];
  let empty = body.querySelector("tr.empty");
  const config = JSON.parse(document.getElementById("alert-wall-config").textContent);
  let filters = config.filters || {};
  const clearLink = document.querySelector("[data-wall-clear]");
  const canHandle = table.dataset.canHandle === "1";
  const liveBadge = document.querySelector("[data-testid=wall-live]");
  const statusLine = document.querySelector("[data-testid=wall-status]");
  const groupsBox = document.querySelector("[data-testid=burst-groups]");
  const notifyButton = document.querySelector("[data-notify-toggle]");
  const helpDialog = document.querySelector("dialog[data-help]");
  const dismissDialog = document.querySelector("dialog[data-dismiss-dialog]");
  let socket = null;

  const say = (text) => { statusLine.textContent = text; };
  const reasonLabel = (code) => config.reason_labels[code] || code;
  const statusLabel = (code) => config.status_labels[code] || code;

  function matches(alert) {
    if (filters.site && alert.site !== filters.site) return false;
    if (filters.camera && alert.camera !== filters.camera) return false;
    if (filters.status && alert.status !== filters.status) return false;
    return true;
  }

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text;  // text only: nothing from the socket becomes HTML
    row.appendChild(td);
    return td;
  }

  function alertRow(alert) {
    const row = document.createElement("tr");
    row.className = `status-${alert.status}`;
    row.tabIndex = -1;
    Object.assign(row.dataset, { alertId: alert.id, site: alert.site, camera: alert.camera, status: alert.status });
    const first = document.createElement("td");
    const link = document.createElement("a");
    link.href = `/alerts/${Number(alert.id)}/`;
    link.textContent = (alert.started_at || "").replace("T", " ").slice(0, 19);
    first.appendChild(link);
    row.appendChild(first);
    cell(row, alert.camera_name);
    cell(row, alert.zone_name || "\u2014");
    cell(row, Number(alert.peak_score).toFixed(2));
    const votes = cell(row, "");
    for (const [name, m] of Object.entries(alert.per_model || {})) {
      if (!m || !m.vote || typeof m.score !== "number") continue;
      const span = document.createElement("span");
      span.className = "vote";
      span.textContent = `${name} ${m.score.toFixed(2)}`;
      votes.append(span, " ");
    }
    cell(row, statusLabel(alert.status) + (alert.reason_code ? ` (${reasonLabel(alert.reason_code)})` : ""));
    return row;
  }

  const rowOf = (id) => body.querySelector(`tr[data-alert-id="${Number(id)}"]`);
  const rows = () => Array.from(body.querySelectorAll("tr[data-alert-id]"));
  const openCount = document.querySelector("[data-open-count]");
  const refreshEmpty = () => {
    empty.hidden = rows().length > 0;
    const n = body.querySelectorAll('tr[data-status="open"]').length;
    openCount.textContent = `${n} open in this list`;
  };

  // --- the filter form swapped the list in (htmx): read its filters, drop what was held back ----
  document.addEventListener("htmx:afterSettle", () => {
    if (table.tBodies[0] === body) return;
    body = table.tBodies[0];
    empty = body.querySelector("tr.empty");
    const ds = body.dataset;
    filters = { site: Number(ds.filterSite) || null, camera: Number(ds.filterCamera) || null, status: ds.filterStatus || null };
    clearLink.hidden = !(filters.site || filters.camera || filters.status);
    for (const group of held.values()) group.box.remove();  // the new list is fresh from the server
    held.clear();
    arrivals.length = 0;
    if (!empty.querySelector("[role=alert]")) refreshEmpty();
    else openCount.textContent = "0 open in this list";
    const n = rows().length;
    say(`${n} alert${n === 1 ? "" : "s"} shown.`);
  });

  // --- bursts: more than burst_count new alerts within burst_window_s are held per camera ------
  const arrivals = [];
  const held = new Map();  // camera id -> {name, alerts: Map(id -> alert), box}

  function inBurst() {
    const now = Date.now();
    while (arrivals.length && now - arrivals[0] > config.burst_window_s * 1000) arrivals.shift();
    return arrivals.length > config.burst_count;
  }

  function showGroup(cameraId) {
    const group = held.get(cameraId);
    if (!group) return;
    held.delete(cameraId);
    group.box.remove();
    const sorted = Array.from(group.alerts.values()).sort((a, b) => (a.started_at < b.started_at ? -1 : 1));
    for (const alert of sorted) insert(alert, false);
    say(`${sorted.length} alerts on ${group.name} shown.`);
  }

  function hold(alert) {
    let group = held.get(alert.camera);
    if (!group) {
      const box = document.createElement("div");
      box.className = "burst";
      box.dataset.testid = "burst-group";
      const text = document.createElement("span");
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = "show";
      button.addEventListener("click", () => showGroup(alert.camera));
      box.append(text, button);
      groupsBox.appendChild(box);
      group = { name: alert.camera_name, alerts: new Map(), box, text };
      held.set(alert.camera, group);
    }
    group.alerts.set(alert.id, alert);
    const n = group.alerts.size;
    group.text.textContent = `${n} new alert${n === 1 ? "" : "s"} on ${group.name}`;
  }

  function insert(alert, fresh) {
    const row = alertRow(alert);
    if (fresh) row.classList.add("fresh");
    body.insertBefore(row, body.firstChild);
    refreshEmpty();
  }

  function receive(alerts) {
    let shown = 0;
    for (const alert of alerts) {
      const old = rowOf(alert.id);
      const group = held.get(alert.camera);
      if (group && group.alerts.has(alert.id)) { group.alerts.set(alert.id, alert); continue; }
      if (old) {
        if (!matches(alert)) { old.remove(); refreshEmpty(); continue; }
        const row = alertRow(alert);
        if (old.classList.contains("selected")) row.classList.add("selected");
        old.replaceWith(row);
        refreshEmpty();
        continue;
      }
      if (!matches(alert)) continue;
      arrivals.push(Date.now());
      if (inBurst() || held.has(alert.camera)) hold(alert);
      else { insert(alert, true); shown += 1; }
    }
    if (shown) notify(alerts.filter((a) => matches(a) && a.status === "open"));
  }

  // --- sound and desktop notifications (opt-in, remembered in this browser) -----------------
  let notifyOn = localStorage.getItem("vad-alert-notify") === "on";
  let audio = null;
  function renderNotify() {
    notifyButton.setAttribute("aria-pressed", String(notifyOn));
    notifyButton.textContent = `Sound and desktop notifications: ${notifyOn ? "on" : "off"}`;
  }
  notifyButton.addEventListener("click", async () => {
    notifyOn = !notifyOn;
    localStorage.setItem("vad-alert-notify", notifyOn ? "on" : "off");
    renderNotify();
    if (!notifyOn) { say("Sound and desktop notifications off."); return; }
    audio = audio || (window.AudioContext ? new AudioContext() : null);  // a click may start audio
    if (!("Notification" in window)) { say("This browser has no desktop notifications: sound only."); return; }
    const permission = Notification.permission === "default" ? await Notification.requestPermission() : Notification.permission;
    if (!notifyOn) return;  // turned off again while the browser asked: "off" stays the last word
    say(permission === "granted" ? "Sound on; desktop notifications while this tab is in the background."
      : "Sound on; desktop notifications are blocked for this site in the browser settings.");
  });
  renderNotify();
  function notify(alerts) {
    if (!notifyOn || !alerts.length) return;
    if (audio) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.value = 0.08;
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.18);
    }
    if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
      const a = alerts[0];
      const more = alerts.length > 1 ? ` (+${alerts.length - 1} more)` : "";
      new Notification(`Alert on ${a.camera_name}${more}`, { body: `score ${Number(a.peak_score).toFixed(2)}`, tag: "vad-alert" });
    }
  }

  // --- the socket: reconnects with backoff (the server closes it when rights change) --------
  function connect(delay) {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${table.dataset.alertWall}`);
    socket.onopen = () => { liveBadge.textContent = "live"; delay = 1000; };
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "alert") receive([msg.alert]);
      else if (msg.type === "alerts") receive(msg.alerts);
      else if (msg.type === "acknowledge.ok" || msg.type === "dismiss.ok") {
        receive([msg.alert]);
        say(`Alert ${msg.alert.id} ${statusLabel(msg.alert.status).toLowerCase()}: ${reasonLabel(msg.alert.reason_code)}.`);
      } else if (msg.type === "error") {
        say(`Not done: ${typeof msg.detail === "string" ? msg.detail : JSON.stringify(msg.detail)}`);
      }
    };
    socket.onclose = () => {
      liveBadge.textContent = "reconnecting…";
      setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
    };
  }
  connect(1000);

  function send(message) {
    if (!socket || socket.readyState !== WebSocket.OPEN) { say("Not connected: try again in a moment."); return; }
    socket.send(JSON.stringify(message));
  }

  // --- keyboard: j/k move, Enter opens, a acknowledges, d dismisses, ? help -----------------
  const selected = () => body.querySelector("tr.selected");
  function select(row) {
    const old = selected();
    if (old) old.classList.remove("selected");
    if (!row) return;
    row.classList.add("selected");
    row.focus();
  }
  function move(step) {
    const all = rows();
    if (!all.length) return;
    const at = all.indexOf(selected());
    select(all[Math.max(0, Math.min(all.length - 1, at < 0 ? 0 : at + step))]);
  }
  table.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-alert-id]");
    if (row && !event.target.closest("a")) select(row);
  });
  document.querySelector("[data-help-open]").addEventListener("click", () => helpDialog.showModal());

  let dismissing = null;
  if (dismissDialog) {
    dismissDialog.addEventListener("close", () => {
      if (dismissDialog.returnValue === "dismiss" && dismissing) {
        const form = dismissDialog.querySelector("form");
        send({ type: "dismiss", alert_id: dismissing, reason: form.reason.value, note: form.note.value });
      }
      dismissing = null;
      const row = selected();
      if (row) row.focus();
    });
  }

  document.addEventListener("keydown", (event) => {
    if (typing(event)) return;
    const row = selected();
    if (event.key === "j") { event.preventDefault(); move(1); }
    else if (event.key === "k") { event.preventDefault(); move(-1); }
    else if (event.key === "?") { event.preventDefault(); helpDialog.showModal(); }
    else if (event.key === "Enter" && row) { event.preventDefault(); location.href = `/alerts/${Number(row.dataset.alertId)}/`; }
    else if (event.key === "a" && row && canHandle) {
      event.preventDefault();
      if (row.dataset.status !== "open") { say(`Alert ${row.dataset.alertId} is already ${row.dataset.status}.`); return; }
      send({ type: "acknowledge", alert_id: Number(row.dataset.alertId), reason: config.ack_reason });
    } else if (event.key === "d" && row && canHandle && dismissDialog) {
      event.preventDefault();
      if (row.dataset.status !== "open") { say(`Alert ${row.dataset.alertId} is already ${row.dataset.status}.`); return; }
      dismissing = Number(row.dataset.alertId);
      dismissDialog.querySelector("[data-dismiss-id]").textContent = String(dismissing);
      dismissDialog.returnValue = "";
      dismissDialog.showModal();
    }
  });
})();
