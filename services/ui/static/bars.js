// Per-face probability bars for gr.HTML(js_on_load=...): `element`, `props` and `watch` come from Gradio.
// The template never changes, so Gradio never touches these nodes; this script creates one row per
// track and one bar per emotion once, then only sets widths and text, so CSS transitions animate.
const root = element.querySelector(".emo-faces") || element;
const cams = new Map(); // camera name -> {box, head, tracks: Map(track id -> {row, title, bars: Map})}

function el(tag, cls, parent) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (parent) parent.appendChild(node);
  return node;
}

function trackRow(cam, t) {
  let tr = cam.tracks.get(t.id);
  if (!tr) {
    const row = el("div", "emo-track", cam.box);
    row.dataset.track = String(t.id);
    tr = { row, title: el("div", "emo-track-title", row), bars: new Map() };
    cam.tracks.set(t.id, tr);
  }
  const dwell = t.dwell_s === undefined ? "" : ` · ${t.dwell_s.toFixed(1)} s`;
  tr.title.textContent = `#${t.id} ${t.label} ${Math.round(t.confidence * 100)}%${dwell}`;
  tr.title.style.borderColor = t.colour;
  for (const [label, p, colour] of t.bars) {
    let bar = tr.bars.get(label);
    if (!bar) {
      const line = el("div", "emo-bar-line", tr.row);
      el("span", "emo-bar-label", line).textContent = label;
      const track = el("div", "emo-bar-track", line);
      const fill = el("div", "emo-bar", track);
      fill.dataset.label = label;
      fill.style.background = colour;
      fill.style.width = "0%";
      bar = { fill, value: el("span", "emo-bar-value", line), p: -1 };
      tr.bars.set(label, bar);
    }
    if (bar.p !== p) {
      bar.p = p;
      bar.fill.style.width = `${(p * 100).toFixed(1)}%`;
    }
    bar.value.textContent = `${Math.round(p * 100)}%`;
  }
}

function render() {
  let data;
  try {
    data = typeof props.value === "string" ? JSON.parse(props.value || "{}") : props.value || {};
  } catch (e) {
    return;
  }
  const seen = new Set();
  for (const c of data.cameras || []) {
    seen.add(c.name);
    let cam = cams.get(c.name);
    if (!cam) {
      const box = el("section", "emo-camera", root);
      box.dataset.camera = c.name;
      cam = { box, head: el("div", "emo-camera-head", box), tracks: new Map() };
      cams.set(c.name, cam);
    }
    const latency = c.latency_ms === null ? "-" : `${c.latency_ms} ms`;
    const rates = `${c.fps} fps in, ${c.shown_fps} annotated/s`;
    // the aggregate identity mode sends no tracks, only faces per label: the head line says those
    const counts = Object.entries(c.counts || {}).map(([label, n]) => `${label} ${n}`).join(", ");
    const faces = c.tracks.length || !counts ? `${c.tracks.length} face(s)` : `faces: ${counts}`;
    // stale: running, but no new answers for a while (a worker host cut off, a stage with no replica)
    const status = c.stale ? `${c.status}, stale: no new tracks` : c.status;
    cam.head.textContent = `${c.name} · ${status} · ${rates} · latency ${latency} · ${faces}`;
    cam.box.classList.toggle("emo-stale", Boolean(c.stale));
    // The grid's tiles carry the same numbers; the grid is not re-rendered for them.
    for (const tile of document.querySelectorAll("#emo-grid .emo-tile")) {
      if (tile.dataset.camera !== c.name) continue;
      const stats = tile.querySelector(".emo-stats");
      if (stats) {
        const text = c.latency_ms === null ? rates : `${rates} · ${latency}`;
        stats.textContent = c.stale ? `stale · ${text}` : text;
      }
    }
    const ids = new Set();
    for (const t of c.tracks) {
      ids.add(t.id);
      trackRow(cam, t);
    }
    for (const [id, tr] of cam.tracks) {
      if (!ids.has(id)) {
        tr.row.remove();
        cam.tracks.delete(id);
      }
    }
  }
  for (const [name, cam] of cams) {
    if (!seen.has(name)) {
      cam.box.remove();
      cams.delete(name);
    }
  }
}

watch("value", render);
render();
