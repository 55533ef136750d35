/// The web page at `/`: one self-contained document (no CDN, no external font or script: it
/// works offline and on a phone). Per camera: the annotated live view (MJPEG), the current faces
/// with score bars (GET /api/state, polled), the events as they happen (SSE).
/// Kept in the binary so an installed daemon needs no data directory to serve it.
///
/// The cameras and their state at the time of the request come inside the page (`initial`), so
/// the first paint already shows each camera's picture (its snapshot, swapped for the live stream
/// once the page has loaded) and faces, without a round trip; the page's load event then means
/// "rendered" (what a headless browser's screenshot waits for). With the event history on, each
/// camera's timeline of the last hour (GET /api/report with a bucket) comes inside too, so it is
/// drawn by then; the page refreshes it every 30 s, and the hour/day toggle fetches the other range.
enum WebPage {
    static func render(initial: String) -> String {
        html.replacingOccurrences(of: "<!--INITIAL-->", with: initial)
    }

    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>emotiond</title>
<style>
  :root { color-scheme: light dark; --bg: #111418; --fg: #e8eaed; --card: #1c2127; --muted: #9aa0a6; --accent: #4fc3f7; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
  header { padding: 10px 16px; display: flex; align-items: baseline; gap: 12px; border-bottom: 1px solid #2a3038; }
  header h1 { font-size: 18px; margin: 0; }
  header .status { color: var(--muted); font-size: 13px; }
  main { padding: 12px; display: grid; gap: 12px; }
  .camera { background: var(--card); border-radius: 8px; padding: 12px; display: grid; gap: 12px;
            grid-template-columns: minmax(0, 2fr) minmax(220px, 1fr); }
  @media (max-width: 760px) { .camera { grid-template-columns: 1fr; } }
  .camera h2 { grid-column: 1 / -1; margin: 0; font-size: 16px; }
  .camera h2 small { color: var(--muted); font-weight: normal; margin-left: 8px; }
  .view img { width: 100%; height: auto; display: block; background: #000; border-radius: 4px; min-height: 120px; }
  .faces h3, .events h3 { margin: 0 0 6px; font-size: 14px; color: var(--muted); font-weight: 600; }
  .face { margin-bottom: 10px; }
  .face .name { font-weight: 600; }
  .bar { display: grid; grid-template-columns: 64px 1fr 40px; gap: 6px; align-items: center; font-size: 12px; }
  .bar .track { background: #2a3038; height: 8px; border-radius: 4px; overflow: hidden; }
  .bar .fill { height: 100%; background: var(--accent); }
  .events ol { list-style: none; margin: 0; padding: 0; max-height: 260px; overflow-y: auto; font-size: 13px; }
  .events li { padding: 3px 0; border-bottom: 1px solid #2a3038; }
  .events .t { color: var(--muted); margin-right: 6px; font-variant-numeric: tabular-nums; }
  .empty { color: var(--muted); font-size: 13px; }
  .events li.notice { font-weight: 600; border-left: 3px solid var(--accent); padding-left: 6px; }
  .timeline { grid-column: 1 / -1; }
  .timeline .head { display: flex; align-items: center; gap: 8px; margin-bottom: 6px; }
  .timeline h3 { margin: 0; font-size: 14px; color: var(--muted); font-weight: 600; flex: 1; }
  .timeline button { background: #2a3038; color: var(--fg); border: 1px solid #3a414b; border-radius: 4px;
                     font: inherit; font-size: 12px; padding: 3px 10px; cursor: pointer; }
  .timeline button[aria-pressed="true"] { background: #4fc3f7; color: #111418; border-color: #4fc3f7; }
  .timeline svg { width: 100%; height: 90px; display: block; background: #15191e; border-radius: 4px; }
  .timeline svg rect { fill: var(--accent); }
  .timeline .axis { display: flex; justify-content: space-between; color: var(--muted); font-size: 11px;
                    font-variant-numeric: tabular-nums; }
  .timeline .legend { display: flex; flex-wrap: wrap; gap: 4px 10px; font-size: 12px; margin-top: 4px; }
  .timeline .legend span::before { content: ""; display: inline-block; width: 9px; height: 9px; border-radius: 2px;
                                   margin-right: 4px; background: var(--accent); }
  .angry { --accent: #ef5350; } .disgust { --accent: #66bb6a; } .fear { --accent: #ab47bc; } .happy { --accent: #ffca28; }
  .sad { --accent: #42a5f5; } .surprise { --accent: #ffa726; } .neutral { --accent: #bdbdbd; }
</style>
</head>
<body>
<header><h1>emotiond</h1><span class="status" id="status">connecting…</span></header>
<main id="cameras"><p class="empty">Loading cameras…</p></main>
<script id="initial" type="application/json"><!--INITIAL--></script>
<script>
"use strict";
const labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];
const el = (tag, cls, text) => { const e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; };

function cameraCard(cam) {
  const card = el("section", "camera"); card.id = "cam-" + cam.name;
  const h = el("h2", null, cam.name); h.appendChild(el("small", "src", "")); card.appendChild(h);
  const view = el("div", "view"); const img = el("img"); img.alt = "live view of " + cam.name;
  // The snapshot first (the load event waits for it), then the endless stream.
  img.src = cam.snapshot; img.dataset.stream = cam.stream; view.appendChild(img); card.appendChild(view);
  const side = el("div");
  const faces = el("div", "faces"); faces.appendChild(el("h3", null, "Faces")); faces.appendChild(el("div", "list"));
  const events = el("div", "events"); events.appendChild(el("h3", null, "Events"));
  events.appendChild(el("p", "empty", "Waiting for events: a face appears, changes or leaves.")); events.appendChild(el("ol"));
  side.appendChild(faces); side.appendChild(events); card.appendChild(side);
  card.appendChild(timelineBox(cam.name));
  return card;
}

// The timeline: emotion shares per bucket (GET /api/report?bucket=), one stacked bar per bucket.
const ranges = { hour: { seconds: 3600, bucket: "1m", name: "Last hour" }, day: { seconds: 86400, bucket: "30m", name: "Last day" } };
const svgNS = "http://www.w3.org/2000/svg";

function timelineBox(name) {
  const box = el("div", "timeline"); box.dataset.camera = name; box.dataset.range = "hour";
  const head = el("div", "head"); head.appendChild(el("h3", null, "Emotions over time"));
  for (const [key, r] of Object.entries(ranges)) {
    const b = el("button", null, r.name); b.type = "button"; b.dataset.range = key;
    b.setAttribute("aria-pressed", String(key === "hour"));
    b.addEventListener("click", () => { box.dataset.range = key; refreshTimeline(box); });
    head.appendChild(b);
  }
  box.appendChild(head);
  const svg = document.createElementNS(svgNS, "svg"); svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img"); svg.setAttribute("aria-label", "emotion shares over time for " + name);
  box.appendChild(svg); box.appendChild(el("div", "axis")); box.appendChild(el("div", "legend"));
  return box;
}

function drawTimeline(box, report) {
  for (const b of box.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b.dataset.range === box.dataset.range));
  const svg = box.querySelector("svg"), buckets = report.buckets || [], n = Math.max(buckets.length, 1);
  svg.replaceChildren(); svg.setAttribute("viewBox", `0 0 ${n * 10} 100`); svg.setAttribute("preserveAspectRatio", "none");
  let bars = 0; const shown = new Set();
  buckets.forEach((b, i) => {
    let y = 100;
    const title = document.createElementNS(svgNS, "title"); const parts = [];
    for (const l of labels) {
      const h = (b.shares[l] || 0) * 100; if (h <= 0) continue;
      const r = document.createElementNS(svgNS, "rect");
      r.setAttribute("class", l); r.setAttribute("x", i * 10 + 1); r.setAttribute("width", 8);
      y -= h; r.setAttribute("y", y.toFixed(2)); r.setAttribute("height", h.toFixed(2));
      svg.appendChild(r); bars++; shown.add(l); parts.push(`${l} ${(b.shares[l] * 100).toFixed(0)}%`);
    }
    if (parts.length) { title.textContent = `${b.start.slice(11, 16)} UTC: ${parts.join(", ")}`; svg.lastChild.appendChild(title); }
  });
  // Data attributes say what was drawn (the browser test reads them from the DOM).
  svg.dataset.buckets = buckets.length; svg.dataset.bars = bars;
  const axis = box.querySelector(".axis"); axis.replaceChildren();
  if (buckets.length) {
    axis.appendChild(el("span", null, new Date(buckets[0].start).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })));
    axis.appendChild(el("span", null, bars ? "" : "no face in this range"));
    axis.appendChild(el("span", null, "now"));
  } else axis.appendChild(el("span", null, "no events in this range"));
  const legend = box.querySelector(".legend"); legend.replaceChildren(...labels.filter(l => shown.has(l)).map(l => el("span", l, l)));
}

async function refreshTimeline(box) {
  const r = ranges[box.dataset.range], since = new Date(Date.now() - r.seconds * 1000).toISOString();
  try {
    const res = await fetch(`api/report?camera=${encodeURIComponent(box.dataset.camera)}&since=${since}&bucket=${r.bucket}`, { cache: "no-store" });
    if (res.status === 404) { timelineOff(box); return; }
    drawTimeline(box, await res.json());
  } catch (e) { /* the status line already says the daemon is unreachable */ }
}

function timelineOff(box) {
  box.querySelector(".axis").replaceChildren(el("span", "empty", "No timeline: the event history is off (set history.path)."));
  for (const b of box.querySelectorAll("button")) b.disabled = true;
}

function showFaces(card, cam) {
  card.querySelector("h2 .src").textContent = `${cam.source.status} · ${cam.fps.toFixed(0)} fps · ${cam.faces.length} face(s)`;
  const list = card.querySelector(".faces .list"); list.replaceChildren();
  if (cam.faces.length === 0) { list.appendChild(el("p", "empty", "No face in view.")); return; }
  for (const f of cam.faces) {
    const box = el("div", "face " + f.label);
    box.appendChild(el("div", "name", `#${f.track} ${f.label} ${(f.confidence * 100).toFixed(0)}%`));
    for (const l of labels) {
      const p = f.smoothed[l] || 0, row = el("div", "bar " + l);
      row.appendChild(el("span", null, l));
      const t = el("div", "track"), fill = el("div", "fill"); fill.style.width = (p * 100).toFixed(1) + "%";
      t.appendChild(fill); row.appendChild(t); row.appendChild(el("span", null, (p * 100).toFixed(0) + "%"));
      box.appendChild(row);
    }
    list.appendChild(box);
  }
}

function addEvent(ev) {
  const card = document.getElementById("cam-" + ev.camera); if (!card) return;
  const ol = card.querySelector(".events ol"); card.querySelector(".events .empty")?.remove();
  const li = el("li", ev.label);
  li.appendChild(el("span", "t", (ev.timestamp || "").slice(11, 19)));
  const what = ev.type === "change" && ev.before ? `${ev.before.label} → ${ev.label}` : ev.label;
  li.appendChild(document.createTextNode(`#${ev.track} ${ev.type}: ${what} ${(ev.confidence * 100).toFixed(0)}%`));
  ol.prepend(li);
  while (ol.children.length > 100) ol.lastChild.remove();
}

function addNotice(n) {
  const card = document.getElementById("cam-" + n.camera); if (!card) return;
  const ol = card.querySelector(".events ol"); card.querySelector(".events .empty")?.remove();
  const li = el("li", "notice " + n.label);
  li.appendChild(el("span", "t", (n.timestamp || "").slice(11, 19)));
  li.appendChild(document.createTextNode(`#${n.track} has looked ${n.label} for ${n.seconds.toFixed(0)} s`));
  ol.prepend(li);
}

// Cameras come and go while the page is open (a reload of the daemon): a panel each, in name order.
function syncCameras(names) {
  const main = document.getElementById("cameras");
  for (const card of main.querySelectorAll(".camera")) if (!names.includes(card.id.slice(4))) card.remove();
  for (const name of names) {
    if (document.getElementById("cam-" + name)) continue;
    const base = "api/cameras/" + encodeURIComponent(name), card = cameraCard({ name, stream: base + "/stream.mjpeg", snapshot: base + "/snapshot.jpg" });
    main.appendChild(card); card.querySelector(".view img").src = card.querySelector(".view img").dataset.stream;
    refreshTimeline(card.querySelector(".timeline"));
  }
  const cards = [...main.querySelectorAll(".camera")], sorted = [...cards].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  if (sorted.some((c, i) => c !== cards[i])) sorted.forEach(c => main.appendChild(c));   // moving restarts nothing, but only when needed
}

async function poll() {
  try {
    const r = await fetch("api/state", { cache: "no-store" });
    const s = await r.json();
    syncCameras(s.cameras.map(c => c.camera));
    for (const cam of s.cameras) { const card = document.getElementById("cam-" + cam.camera); if (card) showFaces(card, cam); }
    document.getElementById("status").textContent = "live · " + new Date().toLocaleTimeString();
  } catch (e) { document.getElementById("status").textContent = "daemon unreachable, retrying…"; }
}

function start() {
  const initial = JSON.parse(document.getElementById("initial").textContent);
  const main = document.getElementById("cameras");
  main.replaceChildren(...initial.cameras.cameras.map(cameraCard));
  for (const cam of initial.state.cameras) { const card = document.getElementById("cam-" + cam.camera); if (card) showFaces(card, cam); }
  for (const box of document.querySelectorAll(".timeline")) {
    const report = initial.timeline && initial.timeline[box.dataset.camera];
    report ? drawTimeline(box, report) : timelineOff(box);
  }
  document.getElementById("status").textContent = "live · " + new Date().toLocaleTimeString();
  // Streams after the load event: an endless response must not keep the page loading.
  window.addEventListener("load", () => setTimeout(() => {
    for (const img of document.querySelectorAll(".view img")) img.src = img.dataset.stream;
    setInterval(poll, 1000);
    setInterval(() => { for (const box of document.querySelectorAll(".timeline")) refreshTimeline(box); }, 30000);
    const es = new EventSource("api/events/live");
    es.addEventListener("track", m => addEvent(JSON.parse(m.data)));
    es.addEventListener("notice", m => addNotice(JSON.parse(m.data)));
  }, 0));
}
start();
</script>
</body>
</html>
"""#
}
