// The skyssl-serve page: a query box, a dropped cutout, the query tile, a grid of neighbour
// tiles (each a link to its own neighbours), a table of the fields and a CSV download, all
// over the service's JSON API. Plain JavaScript, no libraries, works offline.
"use strict";

const token = new URLSearchParams(location.search).get("token");
let info = null;
let lastUploadCsv = null;

function api(path, params) {
  const p = new URLSearchParams(params || {});
  if (token) p.set("token", token);
  const q = p.toString();
  return path + (q ? "?" + q : "");
}

function showError(message) {
  document.getElementById("error").textContent = message || "";
}

async function readJson(response) {
  const text = await response.text();
  let body = null;
  try { body = JSON.parse(text); } catch (e) { /* not JSON: shown as text below */ }
  if (!response.ok) {
    throw new Error(body && body.error ? body.error : "HTTP " + response.status + ": " + text.slice(0, 200));
  }
  if (body === null) throw new Error("the service answered something other than JSON");
  return body;
}

// "row 17" / "17" -> row; "objid:1234" (a field of the service) -> id; else "RA Dec" in
// degrees or sexagesimal ("10:41:05.1 +12:00:30", "10 41 05.1 +12 00 30", "160.27, 12.01").
function parseQuery(text) {
  const t = text.trim();
  if (!t) throw new Error("type a position, an id (FIELD:VALUE) or a row");
  let m = /^row\s*[= ]?\s*(\d+)$/i.exec(t) || /^(\d+)$/.exec(t);
  if (m) return { row: m[1] };
  m = /^([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*(\S+)$/.exec(t);
  if (m && info && info.fields.includes(m[1])) return { id: m[1] + ":" + m[2] };
  if (m) throw new Error("no field '" + m[1] + "' (fields: " + (info ? info.fields.join(", ") : "?") + ")");
  const parts = t.split(/[\s,]+/).filter(Boolean);
  if (parts.length === 2) return { ra: parts[0], dec: parts[1] };
  if (parts.length === 6) return { ra: parts.slice(0, 3).join(":"), dec: parts.slice(3).join(":") };
  throw new Error("'" + t + "' is not RA Dec, FIELD:VALUE or a row");
}

function commonParams() {
  const p = { k: document.getElementById("count").value };
  const x = document.getElementById("exclude").value;
  if (info && info.positions && x !== "") p.exclude_within_arcsec = x;
  return p;
}

function tileUrl(row, size) {
  return api("api/tile/" + row + ".png", { size: size });
}

function render(result, csvHref) {
  const q = result.query;
  const fields = info ? info.fields : [];
  const qTile = document.getElementById("query-tile");
  // An upload has no row, so no tile of the archive to show.
  if (q.row >= 0 && info.tiles) { qTile.src = tileUrl(q.row, 144); qTile.hidden = false; }
  else { qTile.removeAttribute("src"); qTile.hidden = true; }
  let caption = q.label;
  if (q.separation_arcsec !== undefined) caption += " — " + q.separation_arcsec.toFixed(2) + " arcsec from the position asked";
  document.getElementById("query-caption").textContent = caption;
  const grid = document.getElementById("grid");
  grid.replaceChildren();
  result.neighbours.forEach((n, i) => {
    const a = document.createElement("a");
    a.className = "tile";
    a.href = "#row=" + n.row;
    a.title = "neighbours of row " + n.row;
    if (info.tiles) {
      const img = document.createElement("img");
      img.src = tileUrl(n.row, 96);
      img.alt = "row " + n.row;
      a.appendChild(img);
    }
    a.appendChild(document.createTextNode((i + 1) + ". " + n.cosine.toFixed(3)));
    grid.appendChild(a);
  });
  const head = document.querySelector("#table thead");
  const body = document.querySelector("#table tbody");
  head.replaceChildren();
  body.replaceChildren();
  const cols = ["rank", "row", "cosine"].concat(fields);
  const tr = document.createElement("tr");
  cols.forEach(c => { const th = document.createElement("th"); th.textContent = c; tr.appendChild(th); });
  head.appendChild(tr);
  result.neighbours.forEach((n, i) => {
    const row = document.createElement("tr");
    const values = [i + 1, n.row, n.cosine.toFixed(4)].concat(fields.map(f => n[f]));
    values.forEach(v => { const td = document.createElement("td"); td.textContent = String(v); row.appendChild(td); });
    body.appendChild(row);
  });
  const csv = document.getElementById("csv");
  if (csvHref) { csv.href = csvHref; lastUploadCsv = null; }
  else {
    const lines = [cols.join(",")].concat(result.neighbours.map((n, i) =>
      [i + 1, n.row, n.cosine].concat(fields.map(f => n[f])).join(",")));
    lastUploadCsv = new Blob([lines.join("\n") + "\n"], { type: "text/csv" });
    csv.href = URL.createObjectURL(lastUploadCsv);
  }
  document.getElementById("results").hidden = false;
}

async function search(query) {
  showError("");
  try {
    const params = Object.assign(commonParams(), query);
    const result = await readJson(await fetch(api("api/neighbours", params)));
    render(result, api("api/neighbours", Object.assign({ format: "csv" }, params)));
    document.body.dataset.state = "done";
  } catch (e) {
    showError(e.message);
    document.body.dataset.state = "error";
  }
}

async function upload(file) {
  showError("");
  try {
    if (!info || !info.uploads) throw new Error("this service embeds no uploads (it was started without --run-dir)");
    const response = await fetch(api("api/neighbours", commonParams()), {
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body: file,
    });
    render(await readJson(response), null);
    document.body.dataset.state = "done";
  } catch (e) {
    showError(file.name + ": " + e.message);
    document.body.dataset.state = "error";
  }
}

function fromHash() {
  const h = new URLSearchParams(location.hash.slice(1));
  if (h.has("row")) {
    document.getElementById("query").value = "row " + h.get("row");
    search({ row: h.get("row") });
  }
}

async function start() {
  try {
    info = await readJson(await fetch(api("api/info")));
    document.getElementById("about").textContent =
      info.rows + " galaxies of " + (info.run || info.embeddings) + " (" + info.arch + ", /" + info.space +
      " " + info.dim + "-d), index " + info.index + (info.positions ? "" : "; no positions in this file");
    document.getElementById("exclude").value = info.defaults.exclude_within_arcsec;
  } catch (e) {
    showError("the service did not describe itself: " + e.message);
    return;
  }
  document.getElementById("query-form").addEventListener("submit", ev => {
    ev.preventDefault();
    let q;
    try { q = parseQuery(document.getElementById("query").value); }
    catch (e) { showError(e.message); document.body.dataset.state = "error"; return; }
    if (q.row !== undefined && location.hash !== "#row=" + q.row) { location.hash = "row=" + q.row; return; }
    search(q);
  });
  const drop = document.getElementById("drop");
  drop.addEventListener("dragover", ev => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", ev => {
    ev.preventDefault();
    drop.classList.remove("over");
    if (ev.dataTransfer.files.length) upload(ev.dataTransfer.files[0]);
  });
  document.getElementById("file").addEventListener("change", ev => {
    if (ev.target.files.length) upload(ev.target.files[0]);
  });
  window.addEventListener("hashchange", fromHash);
  document.body.dataset.state = "ready";
  fromHash();
}

start();
