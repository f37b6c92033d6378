// mmbind's search page: a sum of weighted terms (text, uploaded files, indexed files), sent
// to the server's API; results as a grid of previews. No framework, no network but this
// server.
"use strict";

const token = new URLSearchParams(location.search).get("token");
const $ = (id) => document.getElementById(id);

/** The terms of the sum: {modality, value, label, weight}. */
let terms = [];

function authorised(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(path, body, raw) {
  const headers = {};
  if (token) headers.Authorization = "Bearer " + token;
  const init = body === undefined ? { headers } : { method: "POST", headers, body };
  if (body !== undefined && !raw) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const r = await fetch(path, init);
  const v = await r.json().catch(() => ({ ok: false, error: r.status + " " + r.statusText }));
  if (!r.ok || v.ok === false) throw new Error(v.error || r.statusText);
  return v;
}

function status(text, busy) {
  $("status").textContent = text;
  document.body.classList.toggle("busy", !!busy);
}

/** What a file probably is, from its name and type (the "as" menu overrides). */
function guess(file) {
  const name = file.name.toLowerCase();
  if (/\.(wav|wave|flac|ogg|oga|mp3)$/.test(name) || file.type.startsWith("audio/")) return "audio";
  if (/\.(txt|md)$/.test(name) || file.type === "text/plain") return "text";
  if (/\.(csv)$/.test(name)) return "imu";
  if (/depth/.test(name)) return "depth";
  if (/thermal/.test(name)) return "thermal";
  if (/\.npy$/.test(name)) return "imu";
  return "vision";
}

function renderTerms() {
  const list = $("term-list");
  list.replaceChildren();
  $("terms").hidden = terms.length === 0;
  terms.forEach((t, i) => {
    const li = document.createElement("li");
    li.className = "term";
    const w = document.createElement("input");
    w.type = "number";
    w.step = "0.1";
    w.value = t.weight;
    w.setAttribute("aria-label", "Weight of " + t.label);
    w.addEventListener("change", () => {
      const x = parseFloat(w.value);
      if (Number.isFinite(x)) { t.weight = x; search(); }
    });
    const what = document.createElement("span");
    what.className = "what";
    what.textContent = "× " + t.modality + ": " + t.label;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "Remove";
    remove.setAttribute("aria-label", "Remove " + t.label);
    remove.addEventListener("click", () => { terms.splice(i, 1); renderTerms(); search(); });
    li.append(w, what, remove);
    list.append(li);
  });
}

function options() {
  const o = { top_k: Math.max(1, parseInt($("k").value, 10) || 12) };
  const only = $("only").value;
  if (only) o.modality = [only];
  const th = parseFloat($("threshold").value);
  if (Number.isFinite(th)) o.threshold = th;
  return o;
}

async function search() {
  if (terms.length === 0) { $("results").replaceChildren(); status(""); return; }
  const input = (t) => ({ [t.modality]: t.value, weight: t.weight });
  const single = terms.length === 1 && terms[0].weight === 1;
  const body = single
    ? { input: { [terms[0].modality]: terms[0].value }, ...options() }
    : { inputs: terms.map(input), ...options() };
  status("Searching…", true);
  try {
    const v = await api(single ? "/api/query" : "/api/add", body);
    show(v.results);
    status(v.results.length + " results (" + v.method + ")");
  } catch (e) {
    status("Error: " + e.message);
  }
}

async function similar(r) {
  status("Searching like " + r.path + "…", true);
  try {
    const q = new URLSearchParams({ top_k: options().top_k });
    if ($("only").value) q.set("modality", $("only").value);
    const v = await api("/api/files/" + encodeURIComponent(r.id) + "/similar?" + q);
    terms = [{ modality: r.modality, value: "file:" + r.id, label: basename(r.path), weight: 1 }];
    renderTerms();
    show(v.results);
    status(v.results.length + " results like " + basename(r.path));
  } catch (e) {
    status("Error: " + e.message);
  }
}

function basename(p) { return p.split("/").pop(); }

function preview(r) {
  const url = (what) => authorised("/api/files/" + encodeURIComponent(r.id) + "/" + what);
  const box = document.createElement("div");
  box.className = "preview " + r.modality;
  if (r.modality === "text") {
    const p = document.createElement("p");
    p.className = "snippet";
    p.textContent = "…";
    fetch(url("media")).then((x) => x.text()).then((t) => { p.textContent = t.slice(0, 240); });
    box.append(p);
    return box;
  }
  const img = document.createElement("img");
  img.src = url("thumb");
  img.loading = "lazy";
  img.alt = r.modality + " preview of " + basename(r.path);
  box.append(img);
  if (r.modality === "audio") {
    const audio = document.createElement("audio");
    audio.controls = true;
    audio.preload = "none";
    audio.src = url("media");
    audio.setAttribute("aria-label", "Play " + basename(r.path));
    box.append(audio);
  }
  return box;
}

function show(results) {
  const list = $("results");
  list.replaceChildren();
  for (const r of results) {
    const li = document.createElement("li");
    li.className = "card";
    li.dataset.path = r.path;
    li.dataset.modality = r.modality;
    const open = document.createElement("button");
    open.type = "button";
    open.className = "like";
    open.textContent = "More like this";
    open.addEventListener("click", () => similar(r));
    const meta = document.createElement("div");
    meta.className = "meta";
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = r.score.toFixed(3);
    const path = document.createElement("span");
    path.className = "path";
    path.textContent = r.path.split("/").slice(-2).join("/");
    path.title = r.path;
    const use = document.createElement("button");
    use.type = "button";
    use.className = "use";
    use.textContent = "+ Add to sum";
    use.addEventListener("click", () => {
      terms.push({ modality: r.modality, value: "file:" + r.id, label: basename(r.path), weight: 1 });
      renderTerms();
      search();
    });
    meta.append(score, " ", r.modality, path);
    li.append(preview(r), meta, open, use);
    list.append(li);
  }
}

function addText(weight) {
  const text = $("q").value.trim();
  if (!text) return;
  terms.push({ modality: "text", value: text, label: "“" + text + "”", weight });
  $("q").value = "";
  renderTerms();
  search();
}

async function addFile(file, weight) {
  const modality = $("as").value || guess(file);
  if (modality === "text") {
    // A text file is searched by its text (the API takes text inline).
    const text = (await file.text()).trim();
    terms.push({ modality, value: text, label: file.name, weight });
    renderTerms();
    return search();
  }
  status("Uploading " + file.name + "…", true);
  try {
    const v = await api("/api/upload?name=" + encodeURIComponent(file.name), file, true);
    terms.push({ modality, value: v.id, label: file.name, weight });
    renderTerms();
    await search();
  } catch (e) {
    status("Error: " + e.message);
  }
}

function start() {
  $("search").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("q").value.trim();
    if (!text) return search();
    terms = [];
    addText(1);
  });
  $("plus").addEventListener("click", () => addText(1));
  $("minus").addEventListener("click", () => addText(-1));
  $("clear").addEventListener("click", () => { terms = []; renderTerms(); search(); });
  for (const id of ["only", "k", "threshold"]) $(id).addEventListener("change", search);
  $("file").addEventListener("change", () => {
    for (const f of $("file").files) addFile(f, 1);
    $("file").value = "";
  });
  const drop = $("drop");
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); $("file").click(); }
  });
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    for (const f of e.dataTransfer.files) addFile(f, 1);
  });
  api("/api/stats").then((s) => {
    $("stats").textContent = s.files + " files · model: " + s.model.split("/").pop();
  }).catch((e) => status("Error: " + e.message));
}

start();
