// app.js: the page's glue. It owns the compute worker (web/worker.js), feeds what the worker
// returns into the ImGui UI module (src/app/main.cpp, the ui_* functions), turns the UI's
// requests into worker messages, wires the browser inputs (drop anywhere, paste, file pickers,
// webcam) and offers window.cnnlens and the URL parameters (README, "Web app").
'use strict';

// The model the page opens with: our own VGG-GAP trained on Fashion-MNIST (1.2 MB,
// assets/fashion_mnist_vgg_gap.safetensors), and the gallery image shown with it.
const DEFAULT_MODEL = 'models/builtin.safetensors';
const DEFAULT_MODEL_LABEL = 'built-in: Fashion-MNIST VGG-GAP (ours)';
const WEIGHT_EXT = /\.(safetensors|pth|pt|bin|h5|hdf5|keras|ckpt)$/i;

const params = new URLSearchParams(location.search);
// The threaded compute module needs SharedArrayBuffer, i.e. a cross-origin isolated page.
const isolated = self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
let threaded = isolated;   // confirmed by the worker once its module is loaded
let threads = 1;
const base = new URL('.', location.href).href;

const state = {
  model: null, result: null, layer: null, heat: null, heats: [], errors: [], lastError: null,
  view: { layer: params.get('layer'), camLayer: params.get('camlayer'), cls: -1, cls2: -1,
          method: params.get('method') || 'gradcam', cmap: params.get('colormap') || 'viridis',
          alpha: 0.5, guided: false, filmstrip: false },
  timings: { pageToFirstPrediction: null, load: null, read: null, forward: null, backward: null, explain: null },
  imageName: '', started: performance.now(), frames: 0, results: 0,
};

// ---------------------------------------------------------------------------- UI module
const canvas = document.getElementById('canvas');
let uiReady = false;
const uiQueue = [];
function fitCanvas() {
  canvas.width = Math.max(320, window.innerWidth);
  canvas.height = Math.max(240, window.innerHeight);
}
fitCanvas();
window.addEventListener('resize', fitCanvas);
// The wheel, in notches, to the UI (before emscripten's GLFW handler, which gets it wrong).
window.addEventListener('wheel', (e) => {
  if (e.target !== canvas || !uiReady) return;
  const unit = e.deltaMode === 1 ? 3 : e.deltaMode === 2 ? 0.3 : 100;   // lines, pages, pixels per notch
  Module.ccall('ui_scroll', null, ['number', 'number'], [e.deltaX / unit, e.deltaY / unit]);
  e.stopImmediatePropagation();
  e.preventDefault();
}, { capture: true, passive: false });
// Touch: one finger is the mouse (tap = click, drag = drag). Emscripten's GLFW never moves its
// cursor on touch events, so they become mouse events on the canvas, in order, with a UI frame
// between the finger's arrival and the press and between press and release (Dear ImGui 1.86
// can lose a press that arrives in the same frame as a jump of the cursor).
const TOUCH_AS_MOUSE = { touchstart: 'mousedown', touchmove: 'mousemove', touchend: 'mouseup', touchcancel: 'mouseup' };
const uiFrame = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
let touchQueue = Promise.resolve();
for (const type of Object.keys(TOUCH_AS_MOUSE)) {
  window.addEventListener(type, (e) => {
    if (e.target !== canvas || !uiReady) return;
    e.stopImmediatePropagation();
    e.preventDefault();
    const t = e.changedTouches[0];
    const init = { clientX: t.clientX, clientY: t.clientY, screenX: t.screenX, screenY: t.screenY, button: 0,
                   buttons: type === 'touchend' || type === 'touchcancel' ? 0 : 1, bubbles: true, cancelable: true };
    touchQueue = touchQueue.then(async () => {
      if (type === 'touchstart') {   // the cursor first
        canvas.dispatchEvent(new MouseEvent('mousemove', init));
        await uiFrame();
      }
      canvas.dispatchEvent(new MouseEvent(TOUCH_AS_MOUSE[type], init));
      if (type === 'touchstart') await uiFrame();
    });
  }, { capture: true, passive: false });
}

// Calls a UI function. Strings go through the heap (malloc), never through ccall's 'string',
// which copies them onto the 5 MB wasm stack unchecked: a long URL, file name or metadata text
// would overwrite memory.
function uiCall(fn, types, args) {
  const heap = [];
  const values = args.map((a, i) => {
    if (types[i] !== 'string') return a;
    const s = String(a == null ? '' : a), n = Module.lengthBytesUTF8(s) + 1, p = Module._malloc(n);
    if (!p) throw new Error('out of memory for a string of ' + n + ' bytes');
    Module.stringToUTF8(s, p, n);
    heap.push(p);
    return p;
  });
  try {
    return Module.ccall(fn, 'number', types.map((t) => (t === 'string' ? 'number' : t)), values);
  } finally {
    heap.forEach((p) => Module._free(p));
  }
}
function ui(fn, types, args) {
  const call = () => {
    const r = uiCall(fn, types, args);
    Module._ui_wake();   // the UI sleeps when idle: draw what changed
    return r;
  };
  if (uiReady) return call();
  uiQueue.push(call);
}
function uiBytes(fn, bytes, before, after) {   // copies bytes into the UI heap for one call
  const go = () => {
    const p = Module._malloc(Math.max(1, bytes.byteLength));
    Module.HEAPU8.set(new Uint8Array(bytes.buffer || bytes, bytes.byteOffset || 0, bytes.byteLength), p);
    const args = [...before, p, ...(after || [])];
    uiCall(fn, args.map((a) => (typeof a === 'string' ? 'string' : 'number')), args);
    Module._free(p);
    Module._ui_wake();
  };
  if (uiReady) go(); else uiQueue.push(go);
}

window.Module = {
  canvas,
  print: (t) => console.log(t),
  printErr: (t) => console.warn(t),
  cnnlensUiReady() {
    uiReady = true;
    for (const f of uiQueue.splice(0)) f();
    loadSamples();
  },
  cnnlensRequest: (req) => onUiRequest(req),
};

// ---------------------------------------------------------------------------- worker
// A hostile file or link could still make the compute module spin, or break it (a wasm trap): a
// worker that stays silent for watchdog.ms while it has work, or that broke, is replaced, and the
// last model and image it accepted are loaded into the new one. Long work posts progress, which
// counts as a sign of life.
let worker = null;
let nextId = 1;
const pending = new Map();
let idleWaiters = [];
let started = false;   // the initial model (and image) requests were sent
const watchdog = { ms: 30000, timer: 0, restarts: 0, recovering: false, workers: 0 };
const good = { weights: null, image: null };   // the last model and image the worker accepted

function startWorker() {
  watchdog.workers++;
  worker = new Worker('worker.js');
  worker.onmessage = onWorkerMessage;
  worker.onerror = (e) => {
    e.preventDefault();
    restartWorker('The compute worker failed: ' + e.message);
  };
  worker.postMessage({ op: 'init', threaded: isolated, base });
}
function watch() {
  clearTimeout(watchdog.timer);
  if (pending.size) watchdog.timer = setTimeout(() => restartWorker(), watchdog.ms);
}
function restartWorker(why) {
  clearTimeout(watchdog.timer);
  worker.terminate();
  const stuck = [...pending.values()];
  pending.clear();
  const job = stuck.map((p) => p.msg.label || p.msg.op).join(', ');
  watchdog.restarts++;
  const giveUp = watchdog.restarts > 2;   // the model or image that worked fails now too: stop here
  const text = (why || `The computation${job ? ' (' + job + ')' : ''} did not finish within ` +
                `${Math.round(watchdog.ms / 1000)} s and was stopped.`) +
               (giveUp ? ' Reload the page to start again.'
                       : good.weights ? ' The previous model and image are back.' : '');
  state.lastError = { where: 'worker', message: text, text };
  state.errors.push(state.lastError);
  ui('ui_on_error', ['string'], [text]);
  for (const p of stuck) p.resolve({ ok: false, error: state.lastError });
  if (giveUp) return settleIdle();
  watchdog.recovering = true;
  startWorker();
}
async function recover() {   // in the new worker: the last model and image that worked
  if (good.weights) await loadWeights(good.weights.src, good.weights.label);
  if (good.image) await loadImage(good.image.src, good.image.name);
  watchdog.recovering = false;
  settleIdle();
}
function accepted(p) {   // a job finished: remember what the worker holds now
  const msg = p.msg;
  watchdog.restarts = 0;
  if (msg.op === 'weights') good.weights = { src: msg.url || msg.file, label: msg.label };
  if (msg.op === 'image') good.image = { src: p.keep || msg.url || msg.blob, name: msg.label };
}

function send(msg, transfer, keep) {   // keep: what a restart would need to send again
  msg.id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(msg.id, { resolve, reject, msg, keep });
    worker.postMessage(msg, transfer || []);
    watch();
  });
}
function settleIdle() {
  if (pending.size || !started || watchdog.recovering) return;
  ui('ui_on_idle', [], []);
  for (const w of idleWaiters.splice(0)) w();
  if (webcam.on) webcam.next();
}

function layerIndex(name) {
  if (!state.model) return -1;
  return state.model.layers.findIndex((l) => l.name === name);
}
function workerView() {
  const v = state.view;
  return { layer: v.layer, explain: { layer: v.camLayer, cls: v.cls, cls2: v.cls2, method: v.method,
                                      guided: v.guided, filmstrip: v.filmstrip } };
}

function friendly(where, message, name) {
  if (where === 'weights') return `Could not load the weights${name ? ' "' + name + '"' : ''}: ${message}. ` +
    (state.model ? 'The previous model is still in use.' : '');
  if (where === 'image') return `Could not read the image${name ? ' "' + name + '"' : ''}: ${message}`;
  if (where === 'explain') return `Could not compute the explanation: ${message}`;
  return `Something went wrong (${where}): ${message}`;
}

function onWorkerMessage(e) {
  const m = e.data;
  watch();
  switch (m.op) {
    case 'ready':
      threaded = m.threaded;
      threads = threaded ? Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)) : 1;
      window.cnnlens.threaded = threaded;
      window.cnnlens.threads = threads;
      if (watchdog.recovering) recover(); else start();
      break;
    case 'progress':
      ui('ui_on_progress', ['string', 'number', 'number', 'number'], [m.label, m.done, m.total, m.cancellable ? 1 : 0]);
      break;
    case 'model': {
      const md = m.model;
      state.model = md;
      state.result = null;
      state.layer = null;
      state.heat = null;
      state.timings.load = md.ms_load;
      state.timings.read = md.ms_read;
      state.heapBytes = md.heap;
      // the model as the core describes it (cl_model_json), plus the layers the view names: the UI
      // keeps them when the model has them and tells its choice through its next view message
      ui('ui_on_model', ['string', 'string', 'string'], [JSON.stringify(md), state.view.layer || '', state.view.camLayer || '']);
      break;
    }
    case 'result': {
      const r = m.result;
      state.result = r;
      state.results++;
      state.timings.forward = r.ms.forward;
      state.heapBytes = r.heap;
      if (state.timings.pageToFirstPrediction == null) state.timings.pageToFirstPrediction = performance.now();
      ui('ui_on_result', ['string'], [JSON.stringify(r)]);
      state.input = { side: m.side, rgb: new Uint8Array(m.rgb) };
      uiBytes('ui_on_image', state.input.rgb, [m.side], [state.imageName]);
      break;
    }
    case 'layer': {
      state.layer = { index: m.index, name: state.model.layers[m.index].name, h: m.h, w: m.w, c: m.c, data: new Float32Array(m.data) };
      uiBytes('ui_on_act', new Uint8Array(m.data), [m.index, m.h, m.w, m.c]);
      break;
    }
    case 'heat': {
      const h = { slot: m.slot, layer: m.layer, method: m.method, cls: m.cls, h: m.h, w: m.w, data: new Float32Array(m.map),
                  weights: m.weights ? new Float32Array(m.weights) : null };
      if (m.slot === 0) state.heat = h;
      state.heats[m.slot] = h;
      const go = () => {
        const pm = Module._malloc(m.map.byteLength);
        Module.HEAPU8.set(new Uint8Array(m.map), pm);
        let pw = 0, nw = 0;
        if (m.weights) {
          pw = Module._malloc(m.weights.byteLength);
          Module.HEAPU8.set(new Uint8Array(m.weights), pw);
          nw = m.weights.byteLength / 4;
        }
        uiCall('ui_on_heat', ['number', 'string', 'string', 'number', 'number', 'number', 'number', 'number', 'number'],
          [m.slot, m.layer, m.method, m.cls, m.h, m.w, pm, pw, nw]);
        Module._free(pm);
        if (pw) Module._free(pw);
        Module._ui_wake();
      };
      if (uiReady) go(); else uiQueue.push(go);
      break;
    }
    case 'heatReset':
      state.heats = [];
      ui('ui_clear_heats', [], []);
      break;
    case 'guided':
      uiBytes('ui_on_guided', new Uint8Array(m.rgb), [m.slot, m.side]);
      break;
    case 'chanWeights':
      state.channelWeights = { layer: m.layer, data: new Float32Array(m.data) };
      uiBytes('ui_on_channel_weights', new Uint8Array(m.data), [m.layer], [m.data.byteLength / 4]);
      break;
    case 'explainDone':
      state.timings.backward = m.msBackward;
      state.timings.explain = m.msMaps;
      state.timings.explainTotal = m.ms;
      state.heapBytes = m.heap;
      ui('ui_set_explain_timing', ['number', 'number'], [m.msBackward || 0, m.msMaps || 0]);
      break;
    case 'status':
      ui('ui_on_status', ['string'], [m.message]);
      break;
    case 'done':
    case 'error': {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.op === 'error') {
        const name = p && p.msg.label;
        const text = m.cancelled ? 'Download cancelled.' : friendly(m.where, m.message, name);
        state.lastError = { where: m.where, message: m.message, text };
        state.errors.push(state.lastError);
        ui('ui_on_error', ['string'], [text]);
        if (p) p.resolve({ ok: false, error: state.lastError });
        if (m.fatal) return restartWorker(text);   // the module trapped: it cannot be trusted any more
      } else if (p) {
        accepted(p);
        p.resolve({ ok: true });
      }
      watch();
      settleIdle();
      break;
    }
  }
}

// ---------------------------------------------------------------------------- actions
function loadWeights(src, label) {
  const msg = { op: 'weights', threads, view: workerView() };
  if (typeof src === 'string') {
    msg.url = new URL(src, location.href).href;
    msg.label = label || src.split('/').pop().split('?')[0];
  } else {
    msg.file = src;
    msg.label = src.name;
  }
  return send(msg);
}

function loadImage(src, name) {
  const msg = { op: 'image' };
  let keep = null;
  if (typeof src === 'string') {
    msg.url = new URL(src, location.href).href;
    state.imageName = name || src.split('/').pop().split('?')[0];
  } else if (src instanceof Blob) {
    msg.blob = src;
    state.imageName = name || src.name || 'pasted image';
  } else {       // {width, height, rgba}: a copy stays here in case the worker must be restarted
    msg.rgba = src.rgba;
    msg.width = src.width;
    msg.height = src.height;
    keep = { width: src.width, height: src.height, rgba: src.rgba.slice(0) };
    state.imageName = name || 'webcam';
  }
  msg.label = state.imageName;
  msg.view = workerView();
  return send(msg, msg.rgba ? [msg.rgba] : [], keep);
}

function handleFile(file) {
  if (!file) return;
  if (WEIGHT_EXT.test(file.name)) loadWeights(file);
  else loadImage(file);
}

function onUiRequest(req) {
  switch (req.op) {
    case 'view': {
      const layerChanged = req.layer !== state.view.layer || !state.layer || state.layer.name !== req.layer;
      Object.assign(state.view, req);
      delete state.view.op;
      if (state.model) send({ op: 'view', view: workerView(), layerChanged });
      break;
    }
    case 'pickImage': pick('pick-image'); break;
    case 'pickWeights': pick('pick-weights'); break;
    case 'paste': pasteFromClipboard(); break;
    case 'imageUrl': loadImage(req.url); break;
    case 'sample': loadImage(req.url, req.name); break;
    case 'webcam': req.on ? webcam.start() : webcam.freeze(); break;
    case 'builtin': loadWeights(DEFAULT_MODEL, DEFAULT_MODEL_LABEL); break;
    case 'weightsUrl': loadWeights(req.url); break;
    case 'headWeights': headWeights(req.url); break;
    case 'cancel': worker.postMessage({ op: 'cancel' }); break;
    case 'clearCache': send({ op: 'clearCache' }); break;
  }
}

function pick(id) {
  const input = document.getElementById(id);
  input.value = '';
  input.click();
}
document.getElementById('pick-image').addEventListener('change', (e) => handleFile(e.target.files[0]));
document.getElementById('pick-weights').addEventListener('change', (e) => e.target.files[0] && loadWeights(e.target.files[0]));

async function headWeights(url) {
  try {
    const r = await fetch(url, { method: 'HEAD' });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const n = r.headers.get('content-length');
    ui('ui_on_weights_size', ['number', 'string'], [n ? +n : -1, n ? '' : 'the server does not say']);
  } catch (e) {
    ui('ui_on_weights_size', ['number', 'string'], [-1, 'cannot reach it: ' + e.message]);
  }
}

async function pasteFromClipboard() {
  try {
    for (const item of await navigator.clipboard.read()) {
      const type = item.types.find((t) => t.startsWith('image/'));
      if (type) return loadImage(await item.getType(type), 'pasted image');
    }
    ui('ui_on_error', ['string'], ['The clipboard holds no image.']);
  } catch (e) {
    ui('ui_on_error', ['string'], ['Reading the clipboard was not allowed: press Ctrl+V (Cmd+V) on the page instead.']);
  }
}

// drop anywhere, paste anywhere
document.addEventListener('dragover', (e) => { e.preventDefault(); document.body.classList.add('dragging'); });
document.addEventListener('dragleave', () => document.body.classList.remove('dragging'));
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const dt = e.dataTransfer;
  if (dt.files && dt.files.length) return handleFile(dt.files[0]);
  const url = dt.getData('text/uri-list') || dt.getData('text/plain');
  if (url && /^https?:/.test(url.trim())) {
    const u = url.trim().split('\n')[0];
    WEIGHT_EXT.test(new URL(u).pathname) ? loadWeights(u) : loadImage(u);
  }
});
document.addEventListener('paste', (e) => {
  const f = [...(e.clipboardData.files || [])][0];
  if (f) { e.preventDefault(); handleFile(f); }
});

// webcam: frames go to the worker one at a time (the next when the last result is back)
const webcam = {
  on: false, video: null, stream: null,
  async start() {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    } catch (e) {
      ui('ui_on_error', ['string'], ['The webcam is not available: ' + e.message]);
      return;
    }
    this.video = document.createElement('video');
    this.video.srcObject = this.stream;
    this.video.muted = true;
    this.video.playsInline = true;
    await this.video.play();
    this.on = true;
    ui('ui_on_webcam', ['number'], [1]);
    this.next();
  },
  grab() {
    const v = this.video, c = new OffscreenCanvas(v.videoWidth, v.videoHeight), g = c.getContext('2d');
    g.drawImage(v, 0, 0);
    const d = g.getImageData(0, 0, c.width, c.height);
    return { width: c.width, height: c.height, rgba: d.data.buffer };
  },
  next() {
    if (!this.on || pending.size || !this.video || !this.video.videoWidth) return;
    loadImage(this.grab(), 'webcam');
  },
  freeze() {
    this.on = false;
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    ui('ui_on_webcam', ['number'], [0]);
  },
};

const samplesList = fetch('samples/index.json').then((r) => r.json());
samplesList.catch(() => {});
async function loadSamples() {
  try {
    const list = await samplesList;
    const thumbs = await Promise.all(list.map(async (s) => {   // fetched in parallel, added in order
      const t = s.thumb || 64;
      const bmp = await createImageBitmap(await (await fetch('samples/' + s.file)).blob());
      const c = new OffscreenCanvas(t, t), g = c.getContext('2d');
      g.imageSmoothingEnabled = bmp.width >= t;   // small images (28x28) are enlarged pixelated
      g.imageSmoothingQuality = 'medium';
      g.drawImage(bmp, 0, 0, t, t);
      return g.getImageData(0, 0, t, t).data;
    }));
    list.forEach((s, i) => uiBytes('ui_add_sample', thumbs[i], [s.name, 'samples/' + s.file, s.group || '',
                                                                s.thumb || 64, s.thumb || 64]));
  } catch (e) {
    console.warn('samples:', e.message);
  }
}

// ---------------------------------------------------------------------------- start, URL parameters
function applyUrlView() {
  const cls = params.get('class');
  const c = cls == null ? -2 : ui('ui_class_find', ['string'], [cls]);   // an index, a name or a WordNet id (-1: unknown)
  const r = ui('ui_set_view', ['string', 'string', 'number', 'number', 'string', 'string', 'number'],
    [params.get('layer') || '', params.get('camlayer') || '', c < 0 ? -2 : c, -2,
     params.get('method') || '', params.get('colormap') || '', params.has('alpha') ? +params.get('alpha') : -1]);
  if (r || c === -1) ui('ui_on_error', ['string'], ['Some URL parameters do not fit this model (layer, class, method or colormap) and were ignored.']);
}

async function start() {
  const model = params.get('model');
  const image = params.get('image');
  const first = loadWeights(model || DEFAULT_MODEL, model ? undefined : DEFAULT_MODEL_LABEL);
  let next = null;
  try {
    await first;
    if (state.model) applyUrlView();
    if (image) next = loadImage(image);
    else if (!model) {   // the built-in model opens with the first image of its gallery
      const s = (await samplesList.catch(() => []))[0];
      if (s) next = loadImage('samples/' + s.file, s.name);
    }
  } finally {
    started = true;    // window.cnnlens.ready() waits for the start-up model and image
    settleIdle();
  }
  if (next) await next;
}

startWorker();

// ---------------------------------------------------------------------------- window.cnnlens
window.cnnlens = {
  threaded,
  threads,
  // Resolves once nothing is loading or computing (and the start-up model is in).
  ready() {
    return new Promise((resolve) => {
      idleWaiters.push(resolve);
      settleIdle();
    });
  },
  async loadImage(url) { await loadImage(url); await this.ready(); return this.top5(); },
  async loadWeights(url) { await loadWeights(url); await this.ready(); return state.model ? state.model.name : null; },
  model: () => state.model && { name: state.model.name, layout: state.model.layout, inputSize: state.model.input_size,
                                head: state.model.head, numClasses: state.model.num_classes,
                                layers: state.model.layers.map((l) => l.name),
                                methods: state.model.methods.map((m) => ({ name: m.name, label: m.label,
                                                                           unavailable: m.unavailable })) },
  top5: () => (state.result ? state.result.top.map((p) => ({ ...p })) : []),
  // The image as the network saw it (fitted to its input size): {side, rgb: number[] (side * side * 3)}.
  input: () => state.input && { side: state.input.side, rgb: Array.from(state.input.rgb) },
  layers: () => (state.model ? state.model.layers.map((l) => ({ ...l })) : []),
  // The selected layer's feature maps: {layer, h, w, c, data: Float32Array HWC}.
  activations: () => state.layer && { layer: state.layer.name, h: state.layer.h, w: state.layer.w, c: state.layer.c,
                                      data: state.layer.data },
  setLayer(name) { return this._view(name, '', -2, -2, '', ''); },
  setCamLayer(name) { return this._view('', name, -2, -2, '', ''); },
  setClass(c, c2) {
    const idx = typeof c === 'number' ? c : (c == null ? -1 : ui('ui_class_find', ['string'], [String(c)]));
    if (idx == null || idx < -1 || (typeof c === 'string' && idx < 0)) return Promise.reject(new Error('unknown class ' + c));
    return this._view('', '', idx, c2 == null ? -2 : c2, '', '');
  },
  setMethod(m) {
    const names = state.model ? state.model.methods.map((x) => x.name) : [];   // the core's table (explain/methods.h)
    if (!names.includes(m)) return Promise.reject(new Error('unknown method ' + m + ' (' + names.join(', ') + ')'));
    return this._view('', '', -2, -2, m, '');
  },
  setColormap(c) { return this._view('', '', -2, -2, '', c); },
  // {guided, filmstrip} (Where it looks), {channel, sortByWeight, normalise: 'channel'|'layer'|'network', tile} (Feature maps)
  async setOptions(o) {
    const b = (v) => (v == null ? -1 : v ? 1 : 0);
    const scope = { channel: 0, layer: 1, network: 2 }[o.normalise];
    ui('ui_set_options', ['number', 'number', 'number', 'number', 'number', 'number'],
      [b(o.guided), b(o.filmstrip), o.channel == null ? -3 : o.channel < 0 ? -2 : o.channel, b(o.sortByWeight),
       scope == null ? -1 : scope, o.tile || 0]);
    await new Promise((res) => setTimeout(res, 0));
    await this.ready();
  },
  async _view(layer, camLayer, cls, cls2, method, cmap) {
    const r = ui('ui_set_view', ['string', 'string', 'number', 'number', 'string', 'string', 'number'],
      [layer, camLayer, cls, cls2, method, cmap, -1]);
    if (r) throw new Error('not valid for this model');
    await new Promise((res) => setTimeout(res, 0));
    await this.ready();
  },
  // The current heatmap at layer resolution: {layer, method, cls, h, w, data: number[], weights}.
  heatmap: () => state.heat && { layer: state.heat.layer, method: state.heat.method, cls: state.heat.cls,
                                 h: state.heat.h, w: state.heat.w, data: Array.from(state.heat.data),
                                 weights: state.heat.weights && Array.from(state.heat.weights) },
  timings: () => ({ ...state.timings }),
  errors: () => state.errors.map((e) => ({ ...e })),
  lastError: () => state.lastError,
  cancel() { worker.postMessage({ op: 'cancel' }); },        // stops a running weights download
  // How long the compute worker may stay silent with work to do before it is replaced (ms).
  setWatchdog(ms) { watchdog.ms = Math.max(1, +ms || 30000); watch(); },
  // Compute workers started (more than 1 after a restart) and results received.
  stats: () => ({ workers: watchdog.workers, results: state.results }),
  // Starts the webcam (frames are classified one after the other) or freezes the last frame.
  async webcam(on) {
    if (on) await webcam.start(); else webcam.freeze();
    return webcam.on;
  },
  imageName: () => state.imageName,
  frames: () => Module.cnnlensFrames || 0,   // frames drawn (the UI draws nothing while idle)
  redraw() { ui('ui_wake', [], []); },
  memory: () => ({ wasmHeapBytes: state.heapBytes }),   // the compute module's linear memory
  selectTab(name) { ui('ui_select_tab', ['string'], [name]); },
  tab: () => (uiReady ? Module.ccall('ui_open_tab', 'string', [], []) : ''),   // the open tab's name
  view: () => ({ ...state.view }),
};
