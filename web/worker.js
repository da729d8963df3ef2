// worker.js: the compute side of the web app, in a dedicated Web Worker so the page never freezes.
// It loads one of the two compute modules (SIMD single-thread, or SIMD + pthreads when the page is
// cross-origin isolated), streams weight files into wasm memory, decodes images (stb_image in
// wasm; the browser's decoders for WebP/AVIF/...), runs the network and posts back only what the
// UI shows: the top-5, the selected layer's maps, the heatmaps. Messages: see web/app.js.
'use strict';

let M = null;            // the compute module
let threaded = false;
let busy = null;         // AbortController of the running download
let chain = Promise.resolve();
let haveModel = false, haveImage = false;
let fresh = false;       // the current model has run on the current image (maps can be asked for)
let layers = [];          // the current model's layers [{name, kind, h, w, c}]
let lastConv = '';       // and the name of its last conv layer
let methodLabels = new Map();   // its methods' labels by name (the progress says "Computing Grad-CAM")
const CACHE = 'cnnlens-weights-v1';

importScripts('format.js');   // cnnlensFormat: the English of the [key, ...arguments] said below

const post = (msg, transfer) => self.postMessage(msg, transfer || []);
// Progress and messages are said as keys of the UI's string table (src/app/strings.cpp) with their
// arguments: the page shows them in its language (web/app.js tr()).
const progress = (label, done = 0, total = 0, cancellable = false, args = []) =>
  post({ op: 'progress', label, args, done, total, cancellable });
// An error whose words the page translates: message in English, say = [key, ...arguments].
function said(where, key, ...args) {
  return Object.assign(new Error(cnnlensFormat(key, args)), { where, say: [key, ...args] });
}
// Start-up marks: the first time each step is reached, on an absolute clock (the page converts
// them to its own: window.cnnlens.timings().marks).
const marked = new Set();
function mark(name) {
  if (marked.has(name)) return;
  marked.add(name);
  post({ op: 'mark', name, t: performance.timeOrigin + performance.now() });
}
mark('workerStart');

// The heap views go stale when wasm memory grows (from another thread in the threaded build).
function u8() {
  const mem = M.wasmMemory;
  if (mem && M.HEAPU8.buffer !== mem.buffer) return new Uint8Array(mem.buffer);
  return M.HEAPU8;
}
function f32(ptr, n) { return new Float32Array(u8().buffer, ptr, n); }
const str = (p) => M.UTF8ToString(p);
function check(rc, where) {
  if (rc !== 0) throw Object.assign(new Error(str(M._cl_error())), { where });
}
// Calls f with a UTF-8 copy of s in the module's heap (never on its stack).
function withString(s, f) {
  const n = M.lengthBytesUTF8(s) + 1, p = M._cl_alloc(n);
  M.stringToUTF8(s, p, n);
  try { return f(p); } finally { M._cl_free(p); }
}

async function init(msg) {
  const base = msg.base;
  const load = async (mt) => {
    const name = mt ? 'cnnlens_compute_mt' : 'cnnlens_compute';
    const js = base + name + '.js';
    // the .wasm is fetched and compiled (streamed) while its JS loads and runs
    const compiled = WebAssembly.compileStreaming ? WebAssembly.compileStreaming(fetch(base + name + '.wasm')) : null;
    if (compiled) compiled.catch(() => {});
    importScripts(js);
    mark('computeScript');
    let failed = null;
    const failure = new Promise((_, reject) => { failed = reject; });
    const ready = CnnlensCompute({
      mainScriptUrlOrBlob: js,
      locateFile: (p) => base + p,
      print: (t) => console.log(t),
      printErr: (t) => console.warn(t),
      ...(compiled && {
        instantiateWasm(imports, receive) {
          compiled.then((mod) => WebAssembly.instantiate(mod, imports).then((inst) => receive(inst, mod))).catch(failed);
          return {};   // emscripten: the exports come through receive()
        },
      }),
    });
    return Promise.race([ready, failure]);
  };
  threaded = !!msg.threaded;
  if (threaded) {
    try {
      M = await load(true);
    } catch (e) {   // no threaded build on this host (or it failed): the single-thread one does everything
      console.warn('threaded compute module unavailable, using the single-thread one: ' + e.message);
      threaded = false;
      self.CnnlensCompute = undefined;
    }
  }
  if (!M) M = await load(false);
  mark('computeInstantiated');
  post({ op: 'ready', threaded });
}

// Streams a Response body or a File into the compute module's weight buffer: one copy of the
// file in memory, which the network then keeps using (its fully connected weights in place).
async function streamToHeap(stream, total, label, signal) {
  let cap = total > 0 ? total : 16 << 20;
  let ptr = M._cl_weights_buffer(cap);
  if (!ptr) throw said(undefined, 'not enough memory for %.0f MB', cap / 1e6);
  let off = 0, last = 0;
  const reader = stream.getReader();
  try {
    for (;;) {
      if (signal && signal.aborted) throw new DOMException('cancelled', 'AbortError');
      const { done, value } = await reader.read();
      if (done) break;
      if (off + value.length > cap) {   // unknown or wrong length (compressed transfer): grow
        cap = Math.max(cap * 2, off + value.length);
        ptr = M._cl_weights_resize(cap);
        if (!ptr) throw said(undefined, 'not enough memory for %.0f MB', cap / 1e6);
      }
      u8().set(value, ptr + off);
      off += value.length;
      const now = performance.now();
      if (now - last > 100) { progress(label[0], off, total, true, label.slice(1)); last = now; }
    }
  } catch (e) {
    M._cl_weights_drop();
    reader.cancel().catch(() => {});
    throw e;
  }
  return off;
}

// fetch, with an error that says why in words (the page adds the URL).
async function fetchOrSay(url, signal) {
  let resp;
  try {
    resp = await fetch(url, { signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw said(undefined, 'the server cannot be reached, or it does not let other sites read the file (CORS)');
  }
  if (!resp.ok) {
    const why = { 404: 'no such file on the server', 403: 'the server refuses it', 401: 'the server asks for a login' }[resp.status];
    const status = `HTTP ${resp.status}${resp.statusText ? ' ' + resp.statusText : ''}`;
    throw why ? said(undefined, '%s: %s', status, [why]) : said(undefined, '%s', status);
  }
  return resp;
}

// fetch through Cache Storage: a hit streams from disk; a miss streams the download into the
// cache (counting bytes for the progress bar), then reads it back. Falls back to a plain fetch.
async function openWeights(url, signal) {
  const cache = self.caches ? await caches.open(CACHE).catch(() => null) : null;
  if (cache) {
    const hit = await cache.match(url).catch(() => null);
    if (hit) return { resp: hit, cached: true };
  }
  const resp = await fetchOrSay(url, signal);
  const total = +resp.headers.get('content-length') || 0;
  if (!cache || !total || !/^https?:/.test(new URL(url, self.location.href).protocol)) return { resp, cached: false };
  let done = 0, last = 0;
  const counted = resp.body.pipeThrough(new TransformStream({
    transform(chunk, ctl) {
      done += chunk.length;
      const now = performance.now();
      if (now - last > 100) { progress('Downloading weights', done, total, true); last = now; }
      ctl.enqueue(chunk);
    },
  }));
  try {
    await cache.put(url, new Response(counted, { headers: { 'content-length': String(total),
      'content-type': 'application/octet-stream' } }));
  } catch (e) {
    if (e.name === 'AbortError' || signal.aborted) throw new DOMException('cancelled', 'AbortError');
    // quota or other storage trouble: no cache, fetch again and stream straight into memory
    const again = await fetchOrSay(url, signal);
    return { resp: again, cached: false };
  }
  const stored = await cache.match(url);
  return { resp: stored, cached: false };
}

async function loadWeights(msg) {
  const ctl = msg.ctl || new AbortController();
  busy = ctl;
  try {
    let stream, total, name;
    const t0 = performance.now();
    if (msg.file) {
      name = msg.file.name;
      total = msg.file.size;
      stream = msg.file.stream();
      progress('Reading %s', 0, total, true, [name]);
    } else {
      name = msg.url.split('/').pop().split('?')[0] || msg.url;
      progress('Downloading weights', 0, 0, true);
      const { resp, cached } = await (msg.opened || openWeights(msg.url, ctl.signal));
      total = +resp.headers.get('content-length') || 0;
      stream = resp.body;
      if (cached) progress('Reading cached weights', 0, total, true);
    }
    const size = await streamToHeap(stream, total, ['Loading %s', name], ctl.signal);
    mark('weightsRead');
    const tRead = performance.now() - t0;
    progress('Building the network', 0, 0, false);
    check(M._cl_load_weights(size, threaded ? msg.threads || 1 : 1), 'weights');
    mark('modelBuilt');
    haveModel = true;
    fresh = false;
    runGen++;
    const model = JSON.parse(str(M._cl_model_json()));
    layers = model.layers;
    lastConv = model.last_conv;
    methodLabels = new Map(model.methods.map((m) => [m.name, m.label]));
    model.name = msg.label || name;
    model.bytes = size;
    model.ms_read = tRead;
    model.heap = u8().length;
    post({ op: 'model', model });
    // the page may send the image again (or another) itself: run: false
    if (haveImage && msg.run !== false) await run(msg.view || {});
  } finally {
    busy = null;
  }
}

async function decodeInBrowser(blob) {
  const bmp = await createImageBitmap(blob, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
  if (M._cl_check_image_size(bmp.width, bmp.height) !== 0) {   // the same limits as our own decoder
    bmp.close();
    throw new Error(str(M._cl_error()));
  }
  const c = new OffscreenCanvas(bmp.width, bmp.height);
  const g = c.getContext('2d');
  g.drawImage(bmp, 0, 0);
  const d = g.getImageData(0, 0, bmp.width, bmp.height);
  bmp.close();
  return d;
}

function setRgba(w, h, data) {
  const p = M._cl_alloc(data.length);
  u8().set(data, p);
  const rc = M._cl_set_image_rgba(w, h, p);
  M._cl_free(p);
  check(rc, 'image');
}

async function setImage(msg) {
  progress('Reading the image', 0, 0, false);
  if (msg.firstSample && !msg.blob) {   // the start-up's gallery image, and the page's first sight of it
    msg.blob = await msg.prefetched;
    if (!msg.blob) return;   // an empty gallery: no image
  }
  if (msg.rgba) {
    setRgba(msg.width, msg.height, new Uint8Array(msg.rgba));
  } else {
    let blob = msg.file || msg.blob || (msg.prefetched && await msg.prefetched);
    if (!blob && msg.url) {   // with progress: the page takes silence for a hang
      let resp;
      try {
        resp = await fetchOrSay(msg.url);
      } catch (e) {
        throw said('image', '%s (%s)', e.say || e.message, msg.url);
      }
      const total = +resp.headers.get('content-length') || 0, parts = [];
      let done = 0, last = 0;
      for (const reader = resp.body.getReader(); ;) {
        const { done: end, value } = await reader.read();
        if (end) break;
        parts.push(value);
        done += value.length;
        if (performance.now() - last > 100) { progress('Downloading the image', done, total); last = performance.now(); }
      }
      blob = new Blob(parts, { type: resp.headers.get('content-type') || '' });
    }
    const bytes = new Uint8Array(await blob.arrayBuffer());
    mark('imageFetched');
    const p = M._cl_alloc(bytes.length);
    u8().set(bytes, p);
    const rc = M._cl_set_image(p, bytes.length);
    M._cl_free(p);
    if (rc !== 0) {
      const why = str(M._cl_error());
      let d = null;
      try { d = await decodeInBrowser(blob); } catch (e) { /* not an image for the browser either */ }
      if (!d) throw said('image', 'cannot read this image: %s', why);
      setRgba(d.width, d.height, d.data);
    }
  }
  haveImage = true;
  fresh = false;
  mark('imageDecoded');
  if (haveModel) await run(msg.view || {});
}

// The view names its layers; a name the current model lacks (the model just changed) falls
// back to the last conv layer, as the UI does.
function resolve(view) {
  if (!view) return view;
  const find = (name, convOnly) => {
    const i = layers.findIndex((l) => l.name === name && (!convOnly || l.kind === 'conv'));
    return i >= 0 ? i : layers.findIndex((l) => l.name === lastConv);
  };
  const out = { ...view, layerIndex: find(view.layer, false) };
  if (view.explain) out.explain = { ...view.explain, layerIndex: find(view.explain.layer, true) };
  return out;
}

// The threaded module's pool workers load in the background (PTHREAD_POOL_DELAY_LOAD): a run
// that starts a pool waits for them, since pthreadpool_create blocks this worker until its
// threads run, and a pool worker that is still loading needs this worker's event loop.
function poolLoaded() {
  const P = M.PThread;
  if (!P) return Promise.resolve();
  return Promise.all([...P.unusedWorkers, ...P.runningWorkers].filter((w) => !w.loaded).map((w) => new Promise((res) => {
    const f = (e) => {
      if (!e.data || e.data.cmd !== 'loaded') return;
      w.removeEventListener('message', f);
      res();
    };
    w.addEventListener('message', f);
  })));
}

async function run(view) {
  view = resolve(view);
  progress('Running the network', 0, 0, false);
  if (threaded && M._cl_run_threads() > 1) await poolLoaded();
  check(M._cl_run(), 'run');
  mark('forward');
  const result = JSON.parse(str(M._cl_result_json(5)));
  result.heap = u8().length;
  const side = M._cl_fitted_side();
  const rgb = u8().slice(M._cl_fitted_rgb(), M._cl_fitted_rgb() + side * side * 3);
  runGen++;
  fresh = true;
  post({ op: 'result', result, side, rgb: rgb.buffer }, [rgb.buffer]);
  sendLayer(view.layerIndex);
  explain(view);
  sendChannelWeights(view);
  mark('explained');
}

function sendLayer(index) {
  if (index == null || index < 0) return;
  const l = layers[index];
  if (!l) return;
  const p = M._cl_act(index);
  if (!p) return;
  const data = f32(p, l.h * l.w * l.c).slice();
  post({ op: 'layer', index, h: l.h, w: l.w, c: l.c, data: data.buffer }, [data.buffer]);
}

// Explanations (explain/methods.h, by name). Only recomputed when what they depend on changed.
let runGen = 0;            // bumps on every forward
let lastExplain = '';
function explain(view) {
  if (!view || !view.explain) return;
  const e = view.explain;
  if (e.layerIndex == null || e.layerIndex < 0) return;
  const request = JSON.stringify({ method: e.method, layer: e.layerIndex, cls: e.cls, cls2: e.cls2,
                                   guided: !!e.guided, filmstrip: !!e.filmstrip });
  const key = runGen + request;
  if (key === lastExplain) return;
  const t0 = performance.now();
  progress('Computing %s', 0, 0, false, [[methodLabels.get(e.method) || e.method]]);
  const p = withString(request, (r) => M._cl_explain(r));
  if (!p) throw Object.assign(new Error(str(M._cl_error())), { where: 'explain' });
  lastExplain = key;
  const info = JSON.parse(str(p));
  const buf = M._cl_explain_buf();
  post({ op: 'heatReset' });
  for (const m of info.maps) {
    const map = f32(buf + 4 * m.offset, m.h * m.w).slice();
    const weights = f32(buf + 4 * (m.offset + m.h * m.w), m.nweights).slice();
    post({ op: 'heat', slot: m.slot, layer: m.layer, method: m.method, cls: m.cls, h: m.h, w: m.w,
           map: map.buffer, weights: weights.buffer }, [map.buffer, weights.buffer]);
  }
  if (info.guided) {
    const n = info.guided * info.guided * 3, p0 = M._cl_guided_rgb();
    for (const slot of [0, 1]) {   // guided Grad-CAM, guided backprop
      const g = u8().slice(p0 + slot * n, p0 + (slot + 1) * n);
      post({ op: 'guided', slot, side: info.guided, rgb: g.buffer }, [g.buffer]);
    }
  }
  post({ op: 'explainDone', ms: performance.now() - t0, msBackward: info.ms.backward, msMaps: info.ms.maps,
         heap: u8().length });
}

// Grad-CAM weights of the feature-map layer's channels (to sort the grid), when it is a conv layer.
function sendChannelWeights(view) {
  if (!view || view.layerIndex == null || view.layerIndex < 0 || !view.explain) return;
  const l = layers[view.layerIndex];
  if (!l || l.kind !== 'conv') return;
  const p = M._cl_channel_weights(view.layerIndex, view.explain.cls);
  if (!p) return;
  const w = f32(p, l.c).slice();
  post({ op: 'chanWeights', index: view.layerIndex, layer: l.name, data: w.buffer }, [w.buffer]);
}

// The tools that test an explanation (explain/tools.h, through cl_tool): the result's JSON and
// its maps (occlusion: probability then logit drops; sanity: every step's maps; pointing: the
// object mask used) go to the page. Faithfulness runs once per method (the random ranking's
// curves with the first only) and comes back as one plot's worth of curves.
function tool(msg) {
  if (!haveModel || !haveImage || !fresh) throw said('tool', 'no image has been run yet');
  const q = { ...msg.request };
  const layerIndex = (name) => {
    const i = layers.findIndex((l) => l.name === name && l.kind === 'conv');
    return i >= 0 ? i : layers.findIndex((l) => l.name === lastConv);
  };
  q.layer = layerIndex(q.layer);
  const call = (request) => {
    const p = withString(JSON.stringify(request), (r) => M._cl_tool(r));
    if (!p) throw Object.assign(new Error(str(M._cl_error())), { where: 'tool' });
    return JSON.parse(str(p));
  };
  const t0 = performance.now();
  let info, maps = new Float32Array(0);
  if (q.tool === 'faithfulness') {
    const names = q.methods && q.methods.length ? q.methods : ['gradcam'];
    info = { tool: 'faithfulness', cls: -1, steps: q.steps, curves: [], random: null };
    names.forEach((method, k) => {
      const r = call({ ...q, method, baseline: k === 0 });
      info.cls = r.cls, info.steps = r.steps;
      info.curves.push({ method: r.method, layer: r.layer, ...r.map });
      if (r.random) info.random = r.random;
    });
  } else {
    info = call(q);
    const n = q.tool === 'occlusion' ? 2 * info.ny * info.nx
      : q.tool === 'sanity' ? info.rows.reduce((a, r) => a + r.h * r.w, 0)
      : q.tool === 'pointing' ? info.mask_side * info.mask_side : 0;
    maps = f32(M._cl_explain_buf(), n).slice();
  }
  info.ms = performance.now() - t0;
  post({ op: 'toolResult', id: msg.id, info, maps: maps.buffer }, [maps.buffer]);
}

// Brush strokes over the image (cl_set_edits: painted by the compute module as the network sees
// the image), then the network again: top-5, maps and heatmap follow.
async function edits(msg) {
  const n = withString(JSON.stringify({ strokes: msg.strokes || [] }), (p) => M._cl_set_edits(p));
  if (n < 0) throw Object.assign(new Error(str(M._cl_error())), { where: 'edit' });
  if (haveModel && haveImage) await run(msg.view || {});
}

function setMask(msg) {
  const m = new Uint8Array(msg.mask || 0), p = M._cl_alloc(Math.max(1, m.length));
  u8().set(m, p);
  const rc = M._cl_set_mask(p, msg.side || 0);
  M._cl_free(p);
  check(rc, 'mask');
}

// The article's figure of the current explanation (cl_figure: image, heatmap, overlay), as RGB.
function figure(msg) {
  if (!haveModel || !haveImage || !fresh) throw said('figure', 'no image has been run yet');
  const q = { ...msg.request, layer: resolve({ explain: { layer: msg.request.layer } }).explain.layerIndex };
  const p = withString(JSON.stringify(q), (r) => M._cl_figure(r));
  if (!p) throw Object.assign(new Error(str(M._cl_error())), { where: 'figure' });
  const info = JSON.parse(str(p));
  const rgb = u8().slice(M._cl_figure_rgb(), M._cl_figure_rgb() + info.width * info.height * 3);
  post({ op: 'figure', id: msg.id, info, rgb: rgb.buffer }, [rgb.buffer]);
}

// Side by side (the page's second worker): the same image, with the same strokes and stamped
// marker, through each of the given models in turn; for each its top-5 and the figure of its
// top-1's map (cl_figure). Nothing else is posted: this worker is not the page's model.
const modelBytes = new Map();   // url -> the weight file, fetched once
async function loadModelBytes(url) {   // builds the model at `url` (nothing is posted); its JSON
  let bytes = modelBytes.get(url);
  if (!bytes) {
    const { resp } = await openWeights(url, new AbortController().signal);
    bytes = new Uint8Array(await resp.arrayBuffer());
    modelBytes.set(url, bytes);
  }
  const p = M._cl_weights_buffer(bytes.length);
  if (!p) throw said('compare', 'out of memory');
  u8().set(bytes, p);
  check(M._cl_load_weights(bytes.length, 1), 'compare');
  return JSON.parse(str(M._cl_model_json()));
}
async function describe(msg) {   // a model's JSON (the stamp's marker geometry)
  haveModel = false;
  post({ op: 'described', id: msg.id, model: await loadModelBytes(msg.url) });
}
async function compare(msg) {
  haveModel = false;   // setImage must not run the network: the models come below
  await setImage(msg.image);
  const rows = [];
  for (const md of msg.models) {
    const model = await loadModelBytes(md.url);
    if (withString(JSON.stringify({ strokes: msg.strokes || [] }), (s) => M._cl_set_edits(s)) < 0)
      throw Object.assign(new Error(str(M._cl_error())), { where: 'compare' });
    check(M._cl_run(), 'compare');
    const result = JSON.parse(str(M._cl_result_json(5)));
    let layer = model.layers.findIndex((l) => l.name === msg.request.layer && l.kind === 'conv');
    if (layer < 0) layer = model.layers.findIndex((l) => l.name === model.last_conv);
    const f = withString(JSON.stringify({ ...msg.request, layer, cls: -1 }), (r) => M._cl_figure(r));
    if (!f) throw Object.assign(new Error(str(M._cl_error())), { where: 'compare' });
    const info = JSON.parse(str(f));
    const rgb = u8().slice(M._cl_figure_rgb(), M._cl_figure_rgb() + info.width * info.height * 3);
    rows.push({ key: md.key, label: md.label, top: result.top, marker: model.marker || null, figure: info, rgb: rgb.buffer });
  }
  post({ op: 'compare', id: msg.id, rows }, rows.map((r) => r.rgb));
}

async function handle(msg) {
  switch (msg.op) {
    case 'init': return init(msg);
    case 'weights': return loadWeights(msg);
    case 'image': return setImage(msg);
    case 'layer': return sendLayer(msg.index);
    case 'run': if (haveModel && haveImage) await run(msg.view || {}); return;
    case 'view':
      msg.view = resolve(msg.view);
      if (haveModel && haveImage && fresh) {
        if (msg.layerChanged) sendLayer(msg.view.layerIndex);
        explain(msg.view);
        sendChannelWeights(msg.view);
      }
      return;
    case 'tool': return tool(msg);
    case 'edits': return edits(msg);
    case 'mask': return setMask(msg);
    case 'figure': return figure(msg);
    case 'compare': return compare(msg);
    case 'describe': return describe(msg);
    case 'clearCache': await caches.delete(CACHE); post({ op: 'status', say: ['cached weights removed'] }); return;
    default: throw new Error('unknown request ' + msg.op);
  }
}

// The page's start-up jobs (index.html: the built-in model and the first image, sent with init)
// fetch at once, while the compute module is still compiling; they run in turn as any other.
function prefetch(msg) {
  if (msg.op === 'weights' && msg.url) {
    msg.ctl = new AbortController();
    msg.opened = openWeights(msg.url, msg.ctl.signal);
    msg.opened.catch(() => {});   // loadWeights reports it
  } else if (msg.op === 'image' && (msg.url || msg.firstSample)) {
    const where = (e) => Object.assign(new Error(`${e.message} (${msg.url})`), { where: 'image' });
    const bytes = async () => {
      const resp = await fetchOrSay(msg.url).catch((e) => { throw where(e); });
      return new Blob([await resp.arrayBuffer()], { type: resp.headers.get('content-type') || '' });
    };
    msg.prefetched = !msg.firstSample ? bytes() : (async () => {
      // the gallery's list (samples/index.json, build.sh): its first image, which the page learns here
      const index = new URL(msg.firstSample, self.location.href).href;
      const resp = await fetchOrSay(index).catch((e) => {
        throw Object.assign(new Error(`${e.message} (${index})`), { where: 'image' });
      });
      const list = await resp.json();
      if (!list.length) {
        post({ op: 'firstSample', id: msg.id, sample: null });
        return null;
      }
      const s = list[0];
      msg.url = new URL(s.file, index).href;
      post({ op: 'firstSample', id: msg.id, sample: { url: msg.url, name: s.name, file: 'samples/' + s.file } });
      return bytes();
    })();
    msg.prefetched.catch(() => {});   // setImage reports it
  }
}

self.onmessage = (e) => {
  const msg = e.data;
  if (msg.op === 'cancel') { if (busy) busy.abort(); return; }
  if (msg.prefetch) prefetch(msg);
  chain = chain.then(() => handle(msg)).then(
    () => post({ op: 'done', id: msg.id }),
    (err) => {
      const cancelled = err && err.name === 'AbortError';
      // a trap (out of bounds, unreachable, abort) leaves the module unusable: the page replaces this worker
      const fatal = err instanceof WebAssembly.RuntimeError || /Aborted\(/.test(String(err));
      post({ op: 'error', id: msg.id, where: (err && err.where) || msg.op, cancelled, fatal: !!fatal,
             message: cancelled ? 'cancelled' : String((err && err.message) || err), say: (err && err.say) || null });
    });
};
