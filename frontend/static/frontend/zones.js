// Zone / mask editor (frontend/templates/frontend/cameras/zones.html). No inline script (CSP):
// the page hands its data over in <script type="application/json" id="zone-editor-data">.
// Zones are polygons (or 2-point lines) in normalised coordinates [0, 1], saved through the
// zones API (/api/v1/zones/) with the CSRF token; the API's field errors show next to the zone.
"use strict";

(() => {
  const dataNode = document.getElementById("zone-editor-data");
  if (!dataNode) return;
  const data = JSON.parse(dataNode.textContent);
  const SVG = "http://www.w3.org/2000/svg";
  // the stage's viewBox has the camera's aspect ratio: 1000 wide, so shapes and labels are not stretched
  const VW = 1000;
  const VH = Math.round((VW * (data.height || 9)) / (data.width || 16));
  const stage = document.getElementById("zone-stage");
  const layer = document.getElementById("zone-layer");
  const list = document.getElementById("zone-list");
  const empty = document.getElementById("zone-empty");
  const status = document.getElementById("zone-status");
  const itemTemplate = document.getElementById("zone-item");
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  const kindLabel = Object.fromEntries(data.kinds.map((k) => [k.value, k.label]));

  stage.setAttribute("viewBox", `0 0 ${VW} ${VH}`);
  stage.style.aspectRatio = `${VW} / ${VH}`;
  const image = stage.querySelector("image");
  if (image) { image.setAttribute("width", VW); image.setAttribute("height", VH); }

  let serial = 0;
  const zones = data.zones.map((z) => ({ ...z, key: ++serial, dirty: false, errors: null }));
  let drawing = null; // {kind, points} while a new zone is being clicked in
  let drag = null; // {zone, vertex (index or null for the whole zone), start, original}
  let selected = null;
  let selectedVertex = null; // index into selected.points, or null: the whole zone
  const STEP = 0.005; // arrow keys move by 0.5% of the frame, with Shift by 5%
  const BIG_STEP = 0.05;

  const round = (v) => Math.round(Math.min(1, Math.max(0, v)) * 10000) / 10000;
  const pointsText = (points) => points.map(([x, y]) => `${x.toFixed(4)},${y.toFixed(4)}`).join(" ");

  function parsePoints(text) {
    const pairs = text.trim().split(/\s+/).filter(Boolean);
    const points = pairs.map((pair) => {
      const parts = pair.split(",");
      const [x, y] = parts.map(Number);
      if (parts.length !== 2 || !Number.isFinite(x) || !Number.isFinite(y)) {
        throw new Error(`“${pair}” is not an x,y pair of numbers`);
      }
      if (x < 0 || x > 1 || y < 0 || y > 1) throw new Error(`“${pair}” is outside 0..1`);
      return [x, y];
    });
    return points;
  }

  function toNormalised(event) {
    const box = stage.getBoundingClientRect();
    return [round((event.clientX - box.left) / box.width), round((event.clientY - box.top) / box.height)];
  }

  function el(name, attrs) {
    const node = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    return node;
  }

  function shape(points, kind, attrs) {
    const coords = points.map(([x, y]) => `${x * VW},${y * VH}`).join(" ");
    const tag = kind === "line" || points.length < 3 ? "polyline" : "polygon";
    return el(tag, { points: coords, class: `zone-shape kind-${kind}`, ...attrs });
  }

  const zoneName = (zone) => zone.name || kindLabel[zone.kind];

  function drawStage() {
    // the stage is redrawn from the data: keep the keyboard focus on the same shape or corner
    const focused = layer.contains(document.activeElement) ? document.activeElement.dataset : null;
    const focusKey = focused ? `${focused.key}/${focused.vertex ?? ""}` : null;
    layer.replaceChildren();
    zones.forEach((zone) => {
      const group = el("g", { class: `zone-g${zone === selected ? " selected" : ""}`, "data-key": zone.key });
      const editable = data.can_edit ? {
        tabindex: 0, role: "button", "aria-roledescription": "zone",
        "aria-label": `${zoneName(zone)}: arrow keys move it (Shift: bigger steps), Delete deletes it`,
      } : {};
      group.appendChild(shape(zone.points, zone.kind, { "data-key": zone.key, ...editable }));
      if (zone.points.length) {
        // the label sits at the zone's centre (the mean of its points)
        const x = zone.points.reduce((sum, p) => sum + p[0], 0) / zone.points.length;
        const y = zone.points.reduce((sum, p) => sum + p[1], 0) / zone.points.length;
        const label = el("text", { x: x * VW, y: y * VH, class: "zone-label", "text-anchor": "middle" });
        label.textContent = zone.name || kindLabel[zone.kind];
        group.appendChild(label);
      }
      if (data.can_edit) {
        zone.points.forEach(([x, y], i) => {
          const chosen = zone === selected && selectedVertex === i;
          group.appendChild(el("circle", {
            cx: x * VW, cy: y * VH, r: 9, class: `zone-vertex${chosen ? " selected" : ""}`,
            "data-key": zone.key, "data-vertex": i, tabindex: 0, role: "button", "aria-roledescription": "corner",
            "aria-label": `Corner ${i + 1} of ${zoneName(zone)} at ${x.toFixed(3)}, ${y.toFixed(3)}: ` +
              "arrow keys move it (Shift: bigger steps), Delete removes it",
          }));
        });
      }
      layer.appendChild(group);
    });
    if (drawing) {
      layer.appendChild(shape(drawing.points, drawing.kind, { class: `zone-shape drawing kind-${drawing.kind}` }));
      drawing.points.forEach(([x, y]) => layer.appendChild(el("circle", { cx: x * VW, cy: y * VH, r: 7,
                                                                          class: "zone-vertex drawing" })));
    }
    if (focusKey) {
      const [key, vertex] = focusKey.split("/");
      const again = layer.querySelector(vertex === "" ? `.zone-shape[data-key="${key}"]`
        : `circle[data-key="${key}"][data-vertex="${vertex}"]`);
      if (again) again.focus({ preventScroll: true });
    }
  }

  function focusSelection() {
    if (!selected) return;
    const target = layer.querySelector(selectedVertex === null ? `.zone-shape[data-key="${selected.key}"]`
      : `circle[data-key="${selected.key}"][data-vertex="${selectedVertex}"]`);
    if (target) target.focus({ preventScroll: true });
  }

  function setErrors(zone, errors) {
    zone.errors = errors;
    const box = zone.item.querySelector(".zone-errors");
    box.replaceChildren();
    for (const [field, messages] of Object.entries(errors || {})) {
      for (const message of [].concat(messages)) {
        const p = document.createElement("p");
        p.textContent = field === "detail" || field === "non_field_errors" ? message : `${field}: ${message}`;
        box.appendChild(p);
      }
    }
  }

  function fill(zone) {
    const item = zone.item;
    const field = (name) => item.querySelector(`[data-field=${name}]`);
    item.querySelector(".zone-legend").textContent =
      `${zone.name || "New zone"} · ${kindLabel[zone.kind]}${zone.id ? "" : " (not saved)"}${zone.dirty && zone.id ? " (changed)" : ""}`;
    field("name").value = zone.name;
    field("kind").value = zone.kind;
    field("loiter_seconds").value = zone.loiter_seconds ?? "";
    field("points").value = pointsText(zone.points);
    item.querySelectorAll(".zone-loiter").forEach((n) => { n.hidden = zone.kind !== "loitering"; });
    item.classList.toggle("selected", zone === selected);
  }

  function buildItem(zone) {
    const item = itemTemplate.content.firstElementChild.cloneNode(true);
    zone.item = item;
    item.dataset.key = zone.key;
    item.querySelectorAll("[data-field]").forEach((input) => {
      const id = `zone-${zone.key}-${input.dataset.field}`;
      input.id = id;
      item.querySelector(`[data-for=${input.dataset.field}]`).setAttribute("for", id);
      input.disabled = !data.can_edit;
    });
    item.querySelectorAll("button").forEach((b) => { b.hidden = !data.can_edit; });
    item.addEventListener("input", (event) => {
      const name = event.target.dataset.field;
      if (!name) return;
      zone.dirty = true;
      if (name === "points") {
        try {
          zone.points = parsePoints(event.target.value);
          setErrors(zone, null);
        } catch (err) {
          setErrors(zone, { points: [err.message] });
        }
      } else if (name === "loiter_seconds") {
        zone.loiter_seconds = event.target.value === "" ? null : Number(event.target.value);
      } else {
        zone[name] = event.target.value;
        if (name === "kind") item.querySelectorAll(".zone-loiter").forEach((n) => { n.hidden = zone.kind !== "loitering"; });
      }
      drawStage();
    });
    item.addEventListener("focusin", () => {
      if (selected === zone && selectedVertex === null) return;
      selected = zone;
      selectedVertex = null;
      drawStage();
    });
    item.querySelector("[data-act=save]").addEventListener("click", () => save(zone));
    item.querySelector("[data-act=delete]").addEventListener("click", () => remove(zone));
    return item;
  }

  function renderList() {
    list.replaceChildren(...zones.map((zone) => { if (!zone.item) buildItem(zone); fill(zone); return zone.item; }));
    empty.hidden = zones.length > 0;
  }

  function say(message) { status.textContent = message; }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let payload = {};
    try { payload = text ? JSON.parse(text) : {}; } catch { payload = { detail: text.slice(0, 200) }; }
    return { ok: response.ok, status: response.status, payload };
  }

  async function save(zone) {
    if (zone.errors && zone.errors.points && zone.item.querySelector("[data-field=points]").value) {
      // a points text that does not parse is not sent; the message is already shown
      try { zone.points = parsePoints(zone.item.querySelector("[data-field=points]").value); } catch { return; }
    }
    say(`Saving “${zone.name || "new zone"}”…`);
    const body = { camera: data.camera, name: zone.name, kind: zone.kind, points: zone.points,
                   loiter_seconds: zone.kind === "loitering" ? zone.loiter_seconds : null };
    const url = zone.id ? `${data.zones_url}${zone.id}/` : data.zones_url;
    const result = await api(zone.id ? "PATCH" : "POST", url, body);
    if (!result.ok) {
      setErrors(zone, typeof result.payload === "object" ? result.payload : { detail: String(result.payload) });
      say(`“${zone.name || "new zone"}” was not saved (${result.status}).`);
      return;
    }
    Object.assign(zone, { id: result.payload.id, points: result.payload.points, dirty: false });
    setErrors(zone, null);
    fill(zone);
    drawStage();
    zone.item.dataset.zoneId = zone.id;
    say(`“${zone.name}” saved; the device gets the new config.`);
  }

  async function remove(zone) {
    if (zone.id) {
      if (!window.confirm(`Delete zone “${zone.name}”?`)) return;
      const result = await api("DELETE", `${data.zones_url}${zone.id}/`);
      if (!result.ok) { setErrors(zone, result.payload); return; }
    }
    zones.splice(zones.indexOf(zone), 1);
    if (selected === zone) { selected = null; selectedVertex = null; }
    renderList();
    drawStage();
    say(`“${zone.name || "new zone"}” deleted${zone.id ? "; the device gets the new config" : ""}.`);
  }

  // --- drawing a new zone: click the corners, then Finish (a line finishes at its 2nd point) ---
  const newButton = document.getElementById("zone-new");
  const finishButton = document.getElementById("zone-finish");
  const cancelButton = document.getElementById("zone-cancel");
  const drawingStatus = document.getElementById("zone-drawing");

  function drawingChanged() {
    const needed = drawing && drawing.kind === "line" ? 2 : 3;
    if (finishButton) finishButton.disabled = !drawing || drawing.points.length < needed;
    if (cancelButton) cancelButton.disabled = !drawing;
    if (newButton) newButton.disabled = Boolean(drawing);
    stage.classList.toggle("is-drawing", Boolean(drawing));
    if (drawingStatus) {
      drawingStatus.textContent = drawing
        ? `Drawing a ${kindLabel[drawing.kind].toLowerCase()}: ${drawing.points.length} point(s); ` +
          (drawing.kind === "line" ? "click 2 points." : "click at least 3 points, then Finish.")
        : "";
    }
    drawStage();
  }

  function addZone(kind, points) {
    const count = zones.filter((z) => z.kind === kind).length + 1;
    const zone = { id: null, key: ++serial, camera: data.camera, name: `${kindLabel[kind]} ${count}`,
                   kind, points, dirty: true, errors: null, loiter_seconds: kind === "loitering" ? 30 : null };
    zones.push(zone);
    return zone;
  }

  function finish() {
    if (!drawing) return;
    const zone = addZone(drawing.kind, drawing.points);
    drawing = null;
    selected = zone;
    renderList();
    drawingChanged();
    zone.item.querySelector("[data-field=name]").focus();
    say(`New zone added; name it and press Save.`);
  }

  if (newButton) {
    newButton.addEventListener("click", () => {
      drawing = { kind: document.getElementById("new-kind").value, points: [] };
      drawingChanged();
    });
    finishButton.addEventListener("click", finish);
    cancelButton.addEventListener("click", () => { drawing = null; drawingChanged(); });
    // keyboard fallback: a default shape in the middle of the frame, edited through its points field
    document.getElementById("zone-add-default").addEventListener("click", () => {
      const kind = document.getElementById("new-kind").value;
      const points = kind === "line" ? [[0.3, 0.5], [0.7, 0.5]] : [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6]];
      const zone = addZone(kind, points);
      selected = zone;
      renderList();
      drawStage();
      zone.item.querySelector("[data-field=points]").focus();
      say("New zone added in the middle of the frame; type its points, name it and press Save.");
    });
  }

  // --- pointer: add points while drawing; else drag a vertex or the whole zone ---
  stage.addEventListener("pointerdown", (event) => {
    if (!data.can_edit) return;
    const point = toNormalised(event);
    if (drawing) {
      drawing.points.push(point);
      if (drawing.kind === "line" && drawing.points.length === 2) { finish(); return; }
      drawingChanged();
      return;
    }
    const target = event.target;
    const key = Number(target.dataset && target.dataset.key);
    const zone = zones.find((z) => z.key === key);
    if (!zone) return;
    event.preventDefault();
    selected = zone;
    const vertex = target.dataset.vertex !== undefined ? Number(target.dataset.vertex) : null;
    selectedVertex = vertex;
    drag = { zone, vertex, start: point, original: zone.points.map((p) => p.slice()) };
    stage.setPointerCapture(event.pointerId);
    zones.forEach((z) => z.item && z.item.classList.toggle("selected", z === selected));
    drawStage();
    focusSelection(); // the arrow keys and Delete then act on what was clicked
  });

  stage.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const [x, y] = toNormalised(event);
    const { zone, vertex, start, original } = drag;
    if (vertex !== null) {
      zone.points[vertex] = [x, y];
    } else {
      // whole zone: the same shift for every point, kept inside the frame
      const xs = original.map((p) => p[0]);
      const ys = original.map((p) => p[1]);
      const dx = Math.min(1 - Math.max(...xs), Math.max(-Math.min(...xs), x - start[0]));
      const dy = Math.min(1 - Math.max(...ys), Math.max(-Math.min(...ys), y - start[1]));
      zone.points = original.map(([px, py]) => [round(px + dx), round(py + dy)]);
    }
    zone.dirty = true;
    drawStage();
  });

  function endDrag() {
    if (!drag) return;
    const zone = drag.zone;
    drag = null;
    fill(zone);
    if (zone.dirty) say(`“${zone.name}” moved; press Save to keep it.`);
  }
  stage.addEventListener("pointerup", endDrag);
  stage.addEventListener("pointercancel", endDrag);

  // --- keyboard: Tab to a zone or a corner; arrows move it (Shift: bigger steps), Delete removes it ---
  stage.addEventListener("focusin", (event) => {
    const target = event.target;
    const zone = zones.find((z) => z.key === Number(target.dataset && target.dataset.key));
    if (!zone) return;
    const vertex = target.dataset.vertex !== undefined ? Number(target.dataset.vertex) : null;
    if (zone === selected && vertex === selectedVertex) return;
    selected = zone;
    selectedVertex = vertex;
    zones.forEach((z) => z.item && z.item.classList.toggle("selected", z === selected));
    drawStage();
  });

  function nudge(zone, dx, dy) {
    if (selectedVertex !== null) {
      const [x, y] = zone.points[selectedVertex];
      zone.points[selectedVertex] = [round(x + dx), round(y + dy)];
    } else {
      // the whole zone, kept inside the frame (as a drag does)
      const xs = zone.points.map((p) => p[0]);
      const ys = zone.points.map((p) => p[1]);
      const sx = Math.min(1 - Math.max(...xs), Math.max(-Math.min(...xs), dx));
      const sy = Math.min(1 - Math.max(...ys), Math.max(-Math.min(...ys), dy));
      zone.points = zone.points.map(([x, y]) => [round(x + sx), round(y + sy)]);
    }
    zone.dirty = true;
    fill(zone);
    drawStage();
    const where = selectedVertex === null ? "" : ` corner ${selectedVertex + 1} at ${zone.points[selectedVertex].map((v) => v.toFixed(3)).join(", ")}`;
    say(`“${zoneName(zone)}”${where} moved; press Save to keep it.`);
  }

  function removeVertex(zone) {
    const least = zone.kind === "line" ? 2 : 3;
    if (zone.points.length <= least) {
      say(`A ${zone.kind === "line" ? "line needs 2 points" : "zone needs at least 3 corners"}: ` +
          `to remove “${zoneName(zone)}”, select its shape and press Delete, or use its Delete button.`);
      return;
    }
    zone.points.splice(selectedVertex, 1);
    const gone = selectedVertex + 1;
    selectedVertex = Math.min(selectedVertex, zone.points.length - 1);
    zone.dirty = true;
    fill(zone);
    drawStage();
    focusSelection();
    say(`Corner ${gone} of “${zoneName(zone)}” removed; press Save to keep it.`);
  }

  const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
  stage.addEventListener("keydown", (event) => {
    if (!data.can_edit || drawing || !selected || !layer.contains(event.target)) return;
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const zone = selected;
    if (ARROWS[event.key]) {
      event.preventDefault();
      const step = event.shiftKey ? BIG_STEP : STEP;
      nudge(zone, ARROWS[event.key][0] * step, ARROWS[event.key][1] * step);
    } else if (event.key === "Delete" || event.key === "Backspace") {
      event.preventDefault();
      if (selectedVertex !== null) removeVertex(zone);
      else {
        remove(zone).then(() => {  // the focus goes on to the next zone, if there is one
          const next = layer.querySelector(".zone-shape[tabindex]");
          if (next && !zones.includes(zone)) next.focus({ preventScroll: true });
        });
      }
    } else if (event.key === "Escape" && selectedVertex !== null) {
      event.preventDefault();
      selectedVertex = null;
      drawStage();
      focusSelection();
    }
  });

  // --- no scene image yet: ask the device for one ---
  const requestButton = document.getElementById("scene-request");
  if (requestButton) {
    requestButton.addEventListener("click", async () => {
      const out = document.getElementById("scene-request-status");
      const result = await api("POST", requestButton.dataset.url);
      out.textContent = result.ok
        ? "Requested: the device sends a face-blurred scene image; reload this page in a minute."
        : (result.payload.detail || `The request failed (${result.status}).`);
    });
  }

  renderList();
  drawStage();
})();
