// Portal behaviour, kept out of the HTML: the Content-Security-Policy allows no inline script.
"use strict";

// <select data-autosubmit> submits its form on change (the tenant switcher).
document.addEventListener("change", (event) => {
  const field = event.target.closest("[data-autosubmit]");
  if (field && field.form) field.form.requestSubmit();
});

// <form data-confirm="question?"> asks before submitting (revoking a token).
document.addEventListener("submit", (event) => {
  const question = event.target.dataset.confirm;
  if (question && !window.confirm(question)) event.preventDefault();
});

// Live alerts: the element with data-live-feed opens that websocket (ws/alerts/) and keeps the
// alert table current: new alerts are added on top, changed ones replaced in place. The socket
// reconnects with backoff (the server closes it when the member's rights change).
function alertRow(alert) {
  const row = document.createElement("tr");
  row.className = `status-${alert.status}`;
  row.dataset.alertId = alert.id;
  const models = Object.entries(alert.per_model || {})
    .filter(([, m]) => m && typeof m.score === "number")
    .map(([name, m]) => `${name} ${m.score.toFixed(2)}${m.vote ? " \u2714" : ""}`).join(", ");
  const started = (alert.started_at || "").replace("T", " ").slice(0, 19);
  const cells = [started, alert.camera_name, alert.zone_name || "\u2014", Number(alert.peak_score).toFixed(2),
                 models, alert.status + (alert.reason_code ? ` (${alert.reason_code})` : "")];
  for (const text of cells) {
    const cell = document.createElement("td");
    cell.textContent = text;  // text only: nothing from the socket becomes HTML
    row.appendChild(cell);
  }
  return row;
}

function showAlerts(table, alerts) {
  const header = table.querySelector("tr");
  for (const alert of alerts) {
    const old = table.querySelector(`tr[data-alert-id="${alert.id}"]`);
    const row = alertRow(alert);
    if (old) old.replaceWith(row);
    else header.after(row);
  }
  const empty = table.querySelector("td[colspan]");
  if (empty && alerts.length) empty.parentElement.remove();
}

function liveFeed(badge) {
  const table = document.querySelector("[data-testid=alert-table]");
  if (!table) return;
  let delay = 1000;
  const connect = () => {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${badge.dataset.liveFeed}`);
    socket.onopen = () => { badge.textContent = "live"; delay = 1000; };
    socket.onmessage = (event) => {
      const msg = JSON.parse(event.data);
      if (msg.type === "alert") showAlerts(table, [msg.alert]);
      else if (msg.type === "alerts") showAlerts(table, msg.alerts);
    };
    socket.onclose = () => {
      badge.textContent = "reconnecting…";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  };
  connect();
}

document.querySelectorAll("[data-live-feed]").forEach(liveFeed);

// htmx (from django-htmx's static files; configured by <meta name="htmx-config">) swaps partials
// in: a partial whose first new element carries data-focus-after-swap gets the focus, so a
// keyboard user who activated "Older entries" lands on the first row it loaded.
document.addEventListener("htmx:afterSettle", () => {
  const first = document.querySelector("[data-focus-after-swap]");
  if (!first) return;
  first.removeAttribute("data-focus-after-swap");
  first.focus();
});
