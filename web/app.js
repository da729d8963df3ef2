// app.js: the page's glue. It owns the compute worker (web/worker.js), feeds what the worker
// returns into the ImGui UI module (src/app/main.cpp, the ui_* functions), turns the UI's
// requests into worker messages, wires the browser inputs (drop anywhere, paste, file pickers,
// webcam) and offers window.cnnlens and the URL parameters (README, "Web app").
'use strict';

// Start-up marks (index.html defines cnnlensMark; a page without it, e.g. a test harness, gets a no-op)
const mark = window.cnnlensMark || (() => {});
mark('appjs');
// What index.html started before this file ran: the compute worker with the start-up jobs (the
// built-in model and the first image: ids 1 and 2) and the UI module's compilation.
const STARTUP = window.cnnlensBoot || { queue: [], errors: [], jobs: [], threads: 1 };

// The model the page opens with: our own VGG-GAP trained on Fashion-MNIST (1.2 MB,
// assets/fashion_mnist_vgg_gap.safetensors), and the gallery image shown with it.
const DEFAULT_MODEL = 'models/builtin.safetensors';
const DEFAULT_MODEL_LABEL = 'built-in: Fashion-MNIST VGG-GAP (ours)';   // BUILTIN_MODELS[0].name
const WEIGHT_EXT = /\.(safetensors|pth|pt|bin|h5|hdf5|keras|ckpt)$/i;

// The models the switch offers first (build.sh copies both into the site). Labels and names are
// keys of the UI's string table (src/app/strings.cpp): shown in the page's language.
const BUILTIN_MODELS = [
  { key: 'builtin', url: DEFAULT_MODEL, label: 'Built-in (honest)', name: DEFAULT_MODEL_LABEL },
  { key: 'cheater', url: 'models/cheater.safetensors', label: 'Built-in (cheater)', name: 'built-in: shortcut VGG-GAP (cheats with a marker)' },
];
// Save figure: pictures of FIGURE.tile CSS pixels with FIGURE.gap between them and the caption
// below, all times devicePixelRatio.
const FIGURE = { tile: 224, gap: 8, caption: 52, font: 15 };

const params = new URLSearchParams(location.search);
const embed = /^(1|true|yes)$/i.test(params.get('embed') || '');   // the compact view for an iframe
// The threaded compute module needs SharedArrayBuffer, i.e. a cross-origin isolated page.
const isolated = self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
let threaded = isolated;   // confirmed by the worker once its module is loaded
let threads = 1;
const base = new URL('.', location.href).href;

// The guided lesson (web/lesson.js, loaded before this file): lesson=1&step=N opens step N.
const LESSON = window.CNNLENS_LESSON || [];
const lesson = { step: /^(1|true|yes)$/i.test(params.get('lesson') || '') ? lessonClamp(params.get('step') || 1) : 0 };
function lessonClamp(n) { return Math.min(LESSON.length, Math.max(1, Math.round(+n) || 1)); }

// The language, "en" or "zh" (zh-CN): lang= in the URL, else the reader's choice in the page
// (remembered), else the browser's language. Chinese needs the subset CJK font (fonts/zh.ttf, with
// the characters it holds in fonts/zh.txt; build.sh makes both): fetched only for Chinese, at once,
// while the modules and the model load.
const LANGS = ['en', 'zh'];
function langOf(s) { return /^zh/i.test(s || '') ? 'zh' : /^en/i.test(s || '') ? 'en' : null; }
let lang = langOf(params.get('lang')) || (() => {
  try { const s = localStorage.getItem('cnnlens-lang'); if (LANGS.includes(s)) return s; } catch (e) { /* none */ }
  return langOf((navigator.languages && navigator.languages[0]) || navigator.language) || 'en';
})();
let zhFont = null;      // a promise of {ttf: Uint8Array, chars: string}
let zhFontSent = false; // the UI module has the font's bytes
function loadZhFont() {
  if (!zhFont) {
    const get = (url, how) => fetch(url).then((r) => {
      if (!r.ok) throw new Error(`${url}: HTTP ${r.status}`);
      return r[how]();
    });
    zhFont = Promise.all([get('fonts/zh.ttf', 'arrayBuffer'), get('fonts/zh.txt', 'text')])
      .then(([ttf, chars]) => ({ ttf: new Uint8Array(ttf), chars }));
    zhFont.catch(() => { zhFont = null; });
  }
  return zhFont;
}
if (lang === 'zh') loadZhFont().catch(() => {});

const state = {
  model: null, result: null, layer: null, heat: null, heats: [], errors: [], lastError: null,
  view: { layer: params.get('layer'), camLayer: params.get('camlayer'), cls: -1, cls2: -1,
          method: params.get('method') || 'gradcam', cmap: params.get('colormap') || 'viridis',
          alpha: 0.5, guided: false, filmstrip: false },
  timings: { pageToFirstPrediction: null, load: null, read: null, forward: null, backward: null, explain: null },
  imageName: '', started: performance.now(), frames: 0, results: 0,
  edits: [],          // brush strokes over the image: {xy (0..1 of the input side), radius, erase, rgb}
  liveStroke: null,   // the stroke being painted (sent live on small models)
  mask: null,         // the object marked for the pointing game: {side, data: Uint8Array}, null = the default
  tools: {},          // the last result of each tool, by name
  marker: null,       // a shortcut model's markers {size, value, positions} (cl_model_json), for the stamp
  models: new Map(),  // the models loaded this visit besides the built-in ones: key -> {key, label, src}
  compare: null,      // side by side: the last rows [{key, label, top, figure}]
  figures: new Map(), // cl_figure answers by job id
  summary: '',        // the screen readers' summary (the #summary live region)
};

// The tools' options (explain/tools.h; the tools themselves are the core's table, cl_model_json's
// "tools"): each is a URL parameter (with tool=NAME) and an option of cnnlens.tool(NAME, {...}).
// Every tool also takes the class (class=, option cls) and the layer (camlayer=, option layer) of
// Where it looks unless given.
const TOOL_OPTIONS = {
  occlusion: { patch: 'int', stride: 'int' },                  // patch side and stride, input pixels
  faithfulness: { methods: 'list', steps: 'int', seed: 'int' },   // methods ranked (gradcam,saliency,...), steps, random seed
  sanity: { seed: 'int' },                                       // the re-initialisation's seed
  pointing: {},
};
function toolOptions(name, get) {   // the options of a tool from a getter (URL parameters, an object)
  const out = {};
  for (const [k, type] of Object.entries(TOOL_OPTIONS[name] || {})) {
    const v = get(k);
    if (v == null || v === '') continue;
    out[k] = type === 'int' ? Math.round(+v) : type === 'list' ? (Array.isArray(v) ? v : String(v).split(',')) : v;
  }
  return out;
}

// ---------------------------------------------------------------------------- UI module
const canvas = document.getElementById('canvas');
let uiReady = false;
const uiQueue = [];
let uiUp = null;   // resolves when the UI module is ready
const uiUpPromise = new Promise((res) => { uiUp = res; });
// Resolves once the UI has drawn n frames: a tab chosen before the first (tab=) is open after two
// (Dear ImGui selects it in the frame after), and cnnlens.tab(), link() and the summary read it.
let uiFrames = 0;
const frameWaiters = [];
function uiDrawn(n) {
  return new Promise((res) => { if (uiFrames >= n) res(); else frameWaiters.push({ n, res }); });
}
// The UI module starts (instantiation, WebGL, fonts, first frames: main-thread work) once the
// start-up's first prediction is in, or the start-up's image failed, or after UI_GATE_MS: on two
// cores it would otherwise hold back the compute worker and the page's answer to it. Without
// start-up jobs (a ?model= or a lesson), at once. Its compilation has long started (index.html).
const UI_GATE_MS = 1500;
let openUiGate = null;
const uiGate = new Promise((res) => { openUiGate = () => { mark('uiGate'); res(); }; });
if (!STARTUP.jobs.length) openUiGate();
else setTimeout(() => openUiGate(), UI_GATE_MS);
window.Module = {
  canvas,
  // cnnlens_ui.wasm: compiled since index.html started it (streamed), instantiated past the gate
  instantiateWasm(imports, receive) {
    const compiled = (STARTUP.ui || Promise.reject(new Error('not started')))
      .catch(() => fetch('cnnlens_ui.wasm').then((r) => {
        if (!r.ok) throw new Error(`cnnlens_ui.wasm: HTTP ${r.status}`);
        return r.arrayBuffer();
      }).then((b) => WebAssembly.compile(b)));
    Promise.all([compiled, uiGate])
      .then(([mod]) => WebAssembly.instantiate(mod, imports).then((inst) => receive(inst, mod)))
      .catch((e) => {
        console.error('the interface module could not be loaded: ' + e.message);
        const f = document.getElementById('fallback');
        f.style.display = 'block';
        f.textContent = 'CNN Lens: the interface could not be loaded (' + e.message + '). Reload the page to try again.';
        canvas.style.display = 'none';
      });
    return {};   // emscripten: the exports come through receive()
  },
  cnnlensPixelRatio: 1,   // device pixels per CSS pixel of the canvas (main.cpp lays out in CSS pixels / UI scale)
  print: (t) => console.log(t),
  printErr: (t) => console.warn(t),
  onRuntimeInitialized() { mark('uiInstantiated'); },   // the UI module compiled and instantiated, before main()
  cnnlensMark: (name) => mark(name),                    // main.cpp: webgl, fonts
  cnnlensOnFrame(n) {                                   // main.cpp, after each frame drawn
    if (n === 1) mark('firstFrame');
    if (state.result) mark('resultShown');
    uiFrames = n;
    for (let i = frameWaiters.length; i-- > 0;) if (frameWaiters[i].n <= n) frameWaiters.splice(i, 1)[0].res();
  },
  cnnlensUiReady() {
    mark('uiReady');
    uiReady = true;
    uiUp();
    applyLang(lang);
    for (const f of uiQueue.splice(0)) f();
    loadSamples();
  },
  cnnlensRequest: (req) => onUiRequest(req),
};
// The canvas at the device's pixel density (sharp text at devicePixelRatio 2 or 3, and at a
// browser zoom, which changes devicePixelRatio); its CSS size is the window's (index.html).
function fitCanvas() {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(160, window.innerWidth), h = Math.max(120, window.innerHeight);
  canvas.width = Math.round(w * dpr);
  canvas.height = Math.round(h * dpr);
  Module.cnnlensPixelRatio = canvas.width / w;
  if (uiReady) Module._ui_wake();
}
fitCanvas();
window.addEventListener('resize', fitCanvas);
(function watchPixelRatio() {   // moved to another screen: same size, other density
  const mq = matchMedia(`(resolution: ${window.devicePixelRatio || 1}dppx)`);
  mq.addEventListener('change', () => { fitCanvas(); watchPixelRatio(); }, { once: true });
})();

// The wheel, in notches, to the UI (before emscripten's GLFW handler, which gets it wrong) when
// what is under the pointer can scroll further that way; otherwise the browser scrolls the page
// (a blog around an embed). An embed takes no wheel at all until the reader clicks into it, and
// again none once the pointer has left it.
let engaged = !embed;
canvas.addEventListener('pointerdown', () => { engaged = true; }, true);
document.documentElement.addEventListener('mouseleave', () => { if (embed) engaged = false; });
window.addEventListener('wheel', (e) => {
  if (e.target !== canvas || !uiReady) return;
  e.stopImmediatePropagation();
  if (!engaged || e.ctrlKey) return;   // Ctrl+wheel: the browser's zoom
  const unit = e.deltaMode === 1 ? 3 : e.deltaMode === 2 ? 0.3 : 100;   // lines, pages, pixels per notch
  const dx = e.deltaX / unit, dy = e.deltaY / unit;
  if (!Module._ui_wheel_scrolls(dx, dy)) return;
  e.preventDefault();
  Module._ui_scroll(dx, dy);
}, { capture: true, passive: false });

// Tab and Shift+Tab move the keyboard focus between the widgets (src/app/main.cpp, ui_tab); at
// the ends of an embed the browser moves it on, out of the frame. Entering the canvas with the
// keyboard (Tab from the page around an embed) focuses its first widget.
window.addEventListener('keydown', (e) => {
  if (!uiReady || e.key !== 'Tab' || e.ctrlKey || e.altKey || e.metaKey) return;
  e.stopImmediatePropagation();   // emscripten's GLFW would hold Tab back from the browser
  if (Module._ui_tab(e.shiftKey ? -1 : 1)) e.preventDefault();
}, true);
canvas.addEventListener('focus', () => {
  if (uiReady && canvas.matches(':focus-visible') && !window.cnnlens.focused()) Module._ui_tab(0);
});

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
// would overwrite memory. ret 'string': the function returns a C string (read, not freed).
function uiCall(fn, types, args, ret) {
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
    const r = Module.ccall(fn, 'number', types.map((t) => (t === 'string' ? 'number' : t)), values);
    return ret === 'string' ? Module.UTF8ToString(r) : r;
  } finally {
    heap.forEach((p) => Module._free(p));
  }
}
function ui(fn, types, args) {
  const call = () => {
    const r = uiCall(fn, types, args);
    Module._ui_news();   // the UI sleeps when idle: draw what changed
    return r;
  };
  if (uiReady) return call();
  uiQueue.push(call);
}
// A UI function that answers with JSON (null before the UI module is ready).
function uiJson(fn, types = [], args = []) {
  if (!uiReady) return null;
  return JSON.parse(uiCall(fn, types, args, 'string') || 'null');
}
function uiBytes(fn, bytes, before, after) {   // copies bytes into the UI heap for one call
  const go = () => {
    const p = Module._malloc(Math.max(1, bytes.byteLength));
    Module.HEAPU8.set(new Uint8Array(bytes.buffer || bytes, bytes.byteOffset || 0, bytes.byteLength), p);
    const args = [...before, p, ...(after || [])];
    uiCall(fn, args.map((a) => (typeof a === 'string' ? 'string' : 'number')), args);
    Module._free(p);
    Module._ui_news();
  };
  if (uiReady) go(); else uiQueue.push(go);
}

// The words this file builds (messages, progress, the screen readers' summary, the figure's
// caption) come from the UI's one string table (src/app/strings.cpp), keyed by the English text as
// in the C++ T(): tr(key, ...args) is the key in the page's language (the UI module's ui_tr),
// formatted printf-style (web/format.js); an argument [key, ...args] is translated too. en() is
// the same in English (technical records: lastError().message). Before the UI module is in, tr()
// is English: message() takes a function of the translator to say its text once the module is in.
function tr(key, ...args) {
  const f = uiReady ? uiCall('ui_tr', ['string', 'string'], [key, lang], 'string') : key;
  return args.length ? cnnlensFormat(f, args, (a) => tr(...a)) : f;
}
function en(key, ...args) { return args.length ? cnnlensFormat(key, args) : key; }
// An error for a caller of window.cnnlens (in English) that the page shows in its language.
function sayError(key, ...args) { return Object.assign(new Error(en(key, ...args)), { say: [key, ...args] }); }
// An error's words for message(): t => the text (a worker's or the core's own message stays as is).
function said(e) { return (t) => (e && e.say ? t(...e.say) : String((e && e.message) || e)); }
// A class's name as the page shows it: Fashion-MNIST's (a model with class names in its metadata)
// translated, ImageNet's English (as the UI's class_label_ui).
function className(name) {
  return state.model && state.model.class_names && state.model.class_names.length ? tr(name) : name;
}

// Messages go to the UI's toast area, by kind: when that kind of action later succeeds, its
// messages go (clearMessages). Screen readers hear them through a live region (index.html).
// text: the words, or t => the words (t: tr), said in the page's language when shown.
const liveRegion = document.getElementById('status');
function message(kind, text) {
  const go = () => {
    const t = typeof text === 'function' ? text(tr) : text;
    uiCall('ui_on_error', ['string', 'string'], [kind, t]);
    Module._ui_wake();
    if (liveRegion) liveRegion.textContent = t;
  };
  if (uiReady) go(); else uiQueue.push(go);
}
function clearMessages(...kinds) {
  for (const k of kinds) ui('ui_clear_messages', ['string'], [k]);
}
function recordError(where, message_, text) {
  state.lastError = { where, message: message_, text };
  state.errors.push(state.lastError);
}

// ---------------------------------------------------------------------------- worker
// A hostile file or link could still make the compute module spin, or break it (a wasm trap): a
// worker that stays silent for watchdog.ms while it has work, or that broke, is replaced. Long work
// posts progress, which counts as a sign of life; Cancel replaces a computing worker the same way.
// Two workers are supervised so (a compute worker, below): the page's own ('main': the last model
// and image it accepted are loaded into the new one) and the side-by-side one ('twin', started
// when first needed: the next comparison starts a new one).
let nextId = 1;
let idleWaiters = [];
let started = false;   // the initial model (and image) requests were sent
const watchdog = { ms: 30000 };   // one setting for both workers (cnnlens.setWatchdog)
const good = { weights: null, image: null };   // the last model and image the worker accepted
let holdView = false;   // while the UI takes in a new model: its view goes with the next run

// A supervised compute worker: its jobs by id ({resolve, msg, keep}), its watchdog timer, restarts
// in a row (a third gives up: the worker is dead), workers started.
function computeWorker(name, { threaded: mt, onMessage, onRestart }) {
  return { name, threaded: mt, onMessage, onRestart, worker: null, pending: new Map(), timer: 0, restarts: 0,
           recovering: false, workers: 0, dead: false, ready: null };
}
const mainWorker = computeWorker('main', { threaded: isolated, onMessage: (m) => onWorkerMessage(m), onRestart: () => { mainWorker.recovering = true; } });
const pending = mainWorker.pending;   // the page's own worker's jobs, in the order it takes them

// The start-up jobs index.html sent, as send() would have: pending until the worker says done.
const boot = { weights: null, image: null };
function startWorker(w) {
  w.workers++;
  const adopt = w === mainWorker && w.workers === 1 && STARTUP.worker;   // the page's first worker: index.html's
  w.worker = adopt ? STARTUP.worker : new Worker('worker.js');
  if (!adopt && w === mainWorker) mark('workerCreated');
  let onReady;
  w.ready = new Promise((res) => { onReady = res; });
  w.worker.onmessage = (e) => {
    watch(w);
    if (e.data.op === 'ready') onReady();
    w.onMessage(e.data);
  };
  w.worker.onerror = (e) => {
    e.preventDefault();
    restartWorker(w, (t) => t('The compute worker failed: %s', e.message));
  };
  if (!adopt) {
    w.worker.postMessage({ op: 'init', threaded: w.threaded, base });
    return;
  }
  for (const job of STARTUP.jobs) {
    const msg = { ...job };
    delete msg.prefetch;
    if (msg.op === 'image') {
      if (msg.firstSample) msg.op = 'bootImage';   // the worker's 'firstSample' makes it an 'image' (its URL, name)
      else state.imageName = msg.label = msg.url.split('/').pop().split('?')[0];
    }
    const promise = new Promise((resolve, reject) => w.pending.set(msg.id, { resolve, reject, msg }));
    boot[job.op === 'weights' ? 'weights' : 'image'] = promise;
    nextId = Math.max(nextId, msg.id + 1);
  }
  if (boot.image) boot.image.then(() => openUiGate());
  watch(w);
  for (const e of STARTUP.queue.splice(0)) w.worker.onmessage(e);   // what came before this file ran
  if (STARTUP.errors.length) w.worker.onerror(STARTUP.errors[0]);
}
function watch(w) {
  clearTimeout(w.timer);
  if (w.pending.size) w.timer = setTimeout(() => restartWorker(w), watchdog.ms);
}
// Replaces w's worker: hung (no why), broken (why: t => the reason, t a translator: tr or en) or
// cancelled. Its jobs resolve as failed ({ok: false, error, message}); the page's own worker comes
// back with its model and image (recover()), the side-by-side one with the next comparison.
function restartWorker(w, why, cancelled = false) {
  if (w === mainWorker) openUiGate();
  clearTimeout(w.timer);
  w.worker.terminate();
  w.worker = null;
  const stuck = [...w.pending.values()];
  w.pending.clear();
  // the jobs by label: a name of the page's (a key of the string table), or an image's or a model's
  const named = (p) => !['image', 'weights', 'run'].includes(p.msg.op);
  const job = (t) => stuck.map((p) => (!p.msg.label ? p.msg.op : named(p) ? t(p.msg.label) : p.msg.label)).join(t(', '));
  if (cancelled) {   // Cancel on a running computation: a new worker with the same model, image and edits
    const text = tr('Cancelled: %s.', job(tr));
    ui('ui_on_status', ['string'], [text]);
    for (const p of stuck) p.resolve({ ok: false, message: 'cancelled', error: { where: 'cancelled', message: 'cancelled', text } });
  } else {
    w.restarts++;
    const giveUp = w.restarts > 2;   // the model or image that worked fails now too: stop here
    const s = Math.round(watchdog.ms / 1000), back = w === mainWorker && good.weights;
    const say = (t) => t('%s%s',
      why ? why(t) : stuck.length ? t('The computation (%s) did not finish within %d s and was stopped.', job(t), s)
        : t('The computation did not finish within %d s and was stopped.', s),
      giveUp ? t(' Reload the page to start again.') : back ? t(' The previous model and image are back.') : '');
    recordError('worker', say(en), say(tr));
    message('worker', say);
    for (const p of stuck) p.resolve({ ok: false, message: state.lastError.text, error: state.lastError });
    if (giveUp) {
      w.dead = true;
      return settleIdle();
    }
  }
  w.onRestart();
  if (w === mainWorker) startWorker(w);
  settleIdle();
}
async function recover() {   // in the new worker: the last model and image that worked
  if (good.weights) await loadWeights(good.weights.src, good.weights.label);
  if (good.image) await loadImage(good.image.src, good.image.name, true);
  if (good.image && state.edits.length) await sendEdits();
  if (state.mask) await send({ op: 'mask', side: state.mask.side, mask: state.mask.data.slice().buffer });
  mainWorker.recovering = false;
  settleIdle();
}
function accepted(p) {   // a job finished: remember what the worker holds now
  const msg = p.msg;
  mainWorker.restarts = 0;
  if (msg.op === 'weights') {
    good.weights = { src: msg.url || msg.file, label: msg.label };
    const key = modelKey(good.weights.src);
    if (!BUILTIN_MODELS.some((b) => b.key === key)) state.models.set(key, { key, label: msg.label, src: good.weights.src });
    pushClassroom();
  }
  if (msg.op === 'image') good.image = { src: p.keep || msg.url || msg.blob, name: msg.label,
                                        sample: msg.sample || (msg.url && sampleUrls.get(msg.url)) || '' };
}

// A job for worker w (default the page's own); resolves when it is done or failed. keep: what a
// restart would need to send again.
function send(msg, transfer, keep, w = mainWorker) {
  msg.id = nextId++;
  if (w.dead) {   // the worker was given up: say so instead of waiting forever
    const text = 'The compute worker stopped after repeated failures: reload the page to start again.';
    message('worker', (t) => t(text));
    return Promise.resolve({ ok: false, message: text, error: { where: 'worker', message: text, text: tr(text) } });
  }
  if (!w.worker) startWorker(w);
  const post = () => new Promise((resolve, reject) => {
    w.pending.set(msg.id, { resolve, reject, msg, keep });
    w.worker.postMessage(msg, transfer || []);
    watch(w);
  });
  return w === mainWorker ? post() : w.ready.then(post);
}
function settleIdle() {
  if (pending.size || !started || mainWorker.recovering || twin.busy || twinWorker.pending.size) return;
  ui('ui_on_idle', [], []);
  updateSummary();
  for (const w of idleWaiters.splice(0)) w();
  if (webcam.on) webcam.next();
}

function workerView() {
  const v = state.view;
  return { layer: v.layer, explain: { layer: v.camLayer, cls: v.cls, cls2: v.cls2, method: v.method,
                                      guided: v.guided, filmstrip: v.filmstrip } };
}

// A worker's error in words (t: tr or en): what failed, and why (the worker's [key, ...args] when
// it said one, else the core's message, which stays English); hadModel: a model was in use.
function friendly(t, where, message_, msg, say, hadModel) {
  const why = (say ? t(...say) : String(message_)).replace(/[.。]+$/, '');
  if (where === 'weights') {
    return (msg && msg.url ? t('Could not load the weights from %s: %s.', msg.url, why)
                           : t('Could not load the weights "%s": %s.', (msg && msg.label) || '', why)) +
      (hadModel ? t(' The previous model is still in use.') : msg && msg.fallback ? t(' Loading the built-in model instead.') : '');
  }
  if (where === 'image') return msg && msg.label ? t('Could not read the image "%s": %s', msg.label, why) : t('Could not read the image: %s', why);
  if (where === 'explain') return t('Could not compute the explanation: %s', why);
  if (where === 'tool') return t('Could not run %s: %s', msg && msg.label ? t(msg.label) : t('the tool'), why);
  return t('Something went wrong (%s): %s', where, why);
}

// After a model change: the current image again, as the new model sees it, unless it is a gallery
// image that does not suit the new model (the UI decides: ui_sample_for_model), which gives way
// to the first gallery image that does.
function afterModel() {
  if (mainWorker.recovering || !good.image) return;            // recover() sends the image itself
  if ([...pending.values()].some((p) => p.msg.op === 'image')) return;   // a newer image is on its way
  const swap = good.image.sample ? uiJson('ui_sample_for_model', ['string'], [good.image.sample]) : null;
  if (swap) loadImage(swap.url, swap.name);
  else send({ op: 'run', view: workerView(), label: good.image.name });
}

// A worker's progress ({label: a table key, args ([key] to translate), done, total, steps: it counts
// steps, not bytes}) in the title row, in the
// page's language; cancellable: its Cancel button can stop it.
function showProgress(m, cancellable) {
  ui('ui_on_progress', ['string', 'number', 'number', 'number', 'number'],
     [tr(m.label, ...(m.args || [])), m.done, m.total, cancellable ? 1 : 0, m.steps ? 1 : 0]);
}

function onWorkerMessage(m) {   // the page's own worker (watch(mainWorker) has seen it)
  switch (m.op) {
    case 'mark':   // the worker's clock (its own time origin) to the page's
      mark(m.name, m.t - performance.timeOrigin);
      break;
    case 'firstSample': {   // the start-up's image, the gallery's first (index.html, worker.js)
      const p = pending.get(m.id);
      if (p && m.sample) {
        Object.assign(p.msg, { op: 'image', url: m.sample.url, sample: m.sample.file, label: m.sample.name });
        state.imageName = m.sample.name;
      }
      break;
    }
    case 'ready':
      mark('computeReady');
      threaded = m.threaded;
      // the threaded build's pool: up to 4 threads; ?threads=N sets it (a benchmark's 1-thread run)
      threads = !threaded ? 1 : STARTUP.threads;   // index.html: up to 4, or ?threads=N
      window.cnnlens.threaded = threaded;
      window.cnnlens.threads = threads;
      if (mainWorker.recovering) recover(); else if (!started) start();
      break;
    case 'progress':
      showProgress(m, m.cancellable);
      break;
    case 'model': {
      mark('model');
      const md = m.model;
      state.model = md;
      state.result = null;
      state.layer = null;
      state.heat = null;
      state.timings.load = md.ms_load;
      state.timings.read = md.ms_read;
      state.heapBytes = md.heap;
      if (md.marker) state.marker = md.marker;
      clearMessages('weights', 'url', 'model');
      // the model as the core describes it (cl_model_json), plus the layers the view names: the UI
      // keeps them when the model has them and tells its choice through its next view message
      holdView = uiReady;
      ui('ui_on_model', ['string', 'string', 'string'], [JSON.stringify(md), state.view.layer || '', state.view.camLayer || '']);
      holdView = false;
      afterModel();
      break;
    }
    case 'result': {
      const r = m.result;
      state.result = r;
      state.results++;
      state.timings.forward = r.ms.forward;
      state.heapBytes = r.heap;
      if (state.timings.pageToFirstPrediction == null) state.timings.pageToFirstPrediction = performance.now();
      mark('result');
      openUiGate();
      clearMessages('image', 'worker');
      ui('ui_on_result', ['string'], [JSON.stringify(r)]);
      if (twin.on) runCompare();
      state.input = { side: m.side, rgb: new Uint8Array(m.rgb) };
      uiBytes('ui_on_image', state.input.rgb, [m.side], [state.imageName]);
      if (webcam.on) {   // the page is not idle between frames any more: the summary follows each one
        webcam.next();
        updateSummary();
      }
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
        Module._ui_news();
      };
      if (uiReady) go(); else uiQueue.push(go);
      if (m.slot === 0) clearMessages('explain');
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
      ui('ui_on_status', ['string'], [m.say ? tr(...m.say) : m.message]);
      break;
    case 'figure':
      state.figures.set(m.id, m);
      break;
    case 'toolResult': {
      const maps = new Float32Array(m.maps);
      state.tools[m.info.tool] = { ...m.info, maps };
      clearMessages('tool');
      const go = () => {
        const p = Module._malloc(Math.max(4, maps.byteLength));
        Module.HEAPU8.set(new Uint8Array(m.maps), p);
        uiCall('ui_on_tool', ['string', 'number', 'number'], [JSON.stringify(m.info), p, maps.length]);
        Module._free(p);
        Module._ui_news();
      };
      if (uiReady) go(); else uiQueue.push(go);
      break;
    }
    case 'done':
    case 'error': {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.op === 'error') {
        const had = !!state.model;
        const say = (t) => (m.cancelled ? t('Download cancelled.') : friendly(t, m.where, m.message, p && p.msg, m.say, had));
        recordError(m.where, m.message, say(tr));
        message(m.where, say);
        if (m.where === 'explain') {
          state.heat = null;
          ui('ui_on_explain_error', ['string'], [m.message]);
        }
        if (p) p.resolve({ ok: false, error: state.lastError });
        if (m.fatal) return restartWorker(mainWorker, say);   // the module trapped: it cannot be trusted any more
      } else if (p) {
        accepted(p);
        if (p.msg.webcam && webcam.on) ui('ui_on_webcam_frame', [], []);
        if (p.msg.op === 'image' && !state.model && !pending.size) {
          const text = 'The image is in, but no model is loaded to classify it: choose one in the Model tab.';
          recordError('image', text, tr(text));
          message('image', (t) => t(text));
        }
        p.resolve({ ok: true });
      }
      watch(mainWorker);
      settleIdle();
      break;
    }
  }
}

// ---------------------------------------------------------------------------- actions
// opts.fallback: a failure will be followed by the built-in model (the start-up ?model=).
function loadWeights(src, label, opts = {}) {
  const msg = { op: 'weights', threads, view: workerView(), run: false, fallback: !!opts.fallback };
  if (typeof src === 'string') {
    msg.url = new URL(src, location.href).href;
    msg.label = label || src.split('/').pop().split('?')[0];
  } else {
    msg.file = src;
    msg.label = src.name;
  }
  mark('weightsSent');
  return send(msg);
}

// The gallery's images by absolute URL -> their gallery URL (samples/...), once the list is in.
const sampleUrls = new Map();
function loadImage(src, name, keepEdits = false, webcamFrame = false) {
  const msg = { op: 'image', webcam: webcamFrame };
  if (!keepEdits) {   // a new image starts unpainted, its object unmarked (the compute module forgets both too)
    state.edits = [];
    state.liveStroke = null;
    state.mask = null;
    ui('ui_mask_clear', ['number'], [0]);
    if (started) pushClassroom();
  }
  let keep = null;
  if (typeof src === 'string') {
    msg.url = new URL(src, location.href).href;
    msg.sample = sampleUrls.get(msg.url) || '';
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
  mark('imageSent');
  return send(msg, msg.rgba ? [msg.rgba] : [], keep);
}

function handleFile(file) {
  if (!file) return;
  if (WEIGHT_EXT.test(file.name)) loadWeights(file);
  else loadImage(file);
}
function handleUrl(u) {   // a link dropped or pasted on the page: weights or an image
  let path = '';
  try { path = new URL(u).pathname; } catch (e) { return; }
  if (WEIGHT_EXT.test(path)) loadWeights(u); else loadImage(u);
}

function setScale(s) {
  s = Math.min(3, Math.max(0.5, +s || 1));
  ui('ui_set_scale', ['number'], [s]);
  try { localStorage.setItem('cnnlens-scale', String(s)); } catch (e) { /* storage refused: this visit only */ }
  return s;
}

function onUiRequest(req) {
  switch (req.op) {
    case 'view': {
      const layerChanged = req.layer !== state.view.layer || !state.layer || state.layer.name !== req.layer;
      const compareChanged = ['method', 'camLayer', 'cmap', 'alpha'].some((k) => k in req && req[k] !== state.view[k]);
      Object.assign(state.view, req);
      delete state.view.op;
      if (state.model && !holdView) send({ op: 'view', view: workerView(), layerChanged });
      if (twin.on && compareChanged && state.model && !holdView) runCompare();
      break;
    }
    case 'pickImage': pick('pick-image'); break;
    case 'pickWeights': pick('pick-weights'); break;
    case 'paste': pasteFromClipboard(); break;
    case 'imageUrl': loadImage(req.url); break;
    case 'sample': loadImage(req.url, req.name); break;
    case 'webcam': req.on ? webcam.start() : webcam.freeze(); break;
    case 'builtin': loadWeights(DEFAULT_MODEL, DEFAULT_MODEL_LABEL); break;
    case 'weightsUrl': loadWeights(req.url, req.label); break;
    case 'headWeights': headWeights(req.url); break;
    case 'cancel': cancel(); break;
    case 'tool': runTool(req.tool, req.options || {}).catch(() => {}); break;   // the page shows the error
    case 'paint': paint(req.stroke, !!req.live); break;
    case 'undo': undoEdit(); break;
    case 'reset': resetEdits(); break;
    case 'mask': setMask(req.side ? { side: req.side, data: req.data } : null); break;
    case 'clearCache': send({ op: 'clearCache' }); break;
    case 'scale': setScale(req.value); break;
    case 'openFull': window.open(window.cnnlens.link(), '_blank', 'noopener'); break;
    case 'setModel': setModel(req.key).catch(() => {}); break;   // the page shows the error
    case 'stamp': stampMarker(req.cls).catch((e) => message('stamp', said(e))); break;
    case 'compare': sideBySide(!!req.on); break;
    case 'copyLink': copyText(window.cnnlens.link(), 'Link to this view copied.'); break;
    case 'copyEmbed': copyText(window.cnnlens.embedSnippet(), 'Embed code copied: paste it into a web page.'); break;
    case 'saveFigure': saveFigure(true).catch((e) => message('figure', said(e))); break;
    case 'pastedText': pastedText(req.text); break;
    case 'lesson': lessonGo(req.step).catch(() => {}); break;
    case 'lang': setLang(req.lang).catch(() => {}); break;
  }
}

// Cancel: a download stops; a computation (a tool, a costly method) cannot be interrupted inside
// the worker, so the worker is replaced by one with the same model, image and edits. With the
// page's own worker idle, a running side-by-side comparison is stopped the same way.
function cancel() {
  const running = pending.values().next().value;   // the worker takes its jobs in order
  if (running && running.msg.op !== 'weights') restartWorker(mainWorker, null, true);
  else if (running) mainWorker.worker.postMessage({ op: 'cancel' });
  else if (twinWorker.pending.size) restartWorker(twinWorker, null, true);   // side by side
}

// A tool (the core's, by name) on the current image; resolves to its numbers, which the Tools tab
// shows too. options: TOOL_OPTIONS[name], cls (index, name or WordNet id; default the view's
// class), layer (default the view's Grad-CAM layer).
async function runTool(name, options = {}) {
  const known = state.model && state.model.tools.map((t) => t.name);
  if (!known || !known.includes(name)) throw new Error(`unknown tool ${name} (${(known || []).join(', ')})`);
  const request = { tool: name, ...toolOptions(name, (k) => options[k]) };
  let cls = options.cls != null ? options.cls : state.view.cls;
  if (typeof cls === 'string' && !/^-?\d+$/.test(cls)) cls = uiReady ? uiCall('ui_class_find', ['string'], [cls]) : -1;
  request.cls = +cls;
  if (!(request.cls >= -1 && request.cls < state.model.num_classes)) throw new Error('unknown class ' + options.cls);
  request.layer = options.layer || state.view.camLayer || state.model.last_conv;
  const label = state.model.tools.find((t) => t.name === name).label;
  ui('ui_on_tool_start', ['string'], [name]);
  state.lastTool = { name, options: toolOptions(name, (k) => options[k]) };   // for link()
  const r = await send({ op: 'tool', request, label });
  if (!r.ok) throw new Error(r.error ? r.error.message : 'failed');
  const out = { ...state.tools[name] };
  delete out.maps;
  if (name === 'occlusion') {   // the maps as arrays: [ny][nx] row-major
    const n = out.ny * out.nx, maps = state.tools[name].maps;
    out.prob = Array.from(maps.subarray(0, n));
    out.logit = Array.from(maps.subarray(n, 2 * n));
  }
  return out;
}

// Brush strokes: the page keeps the list (undo, reset, replay into a new worker), the compute
// module paints them (cl_set_edits). While a stroke is being drawn on a small model it is sent
// live; the latest version waits while the worker is busy with the one before.
const edits = { busy: false, again: false, promise: Promise.resolve() };
function sendEdits() {
  if (edits.busy) {
    edits.again = true;
    return edits.promise;
  }
  edits.busy = true;
  pushClassroom();   // the stamp shown follows the edit list (undo, reset)
  const strokes = state.liveStroke ? [...state.edits, state.liveStroke] : state.edits;
  edits.promise = send({ op: 'edits', strokes, view: workerView(), label: 'the brush' }).then((r) => {
    edits.busy = false;
    if (edits.again) {
      edits.again = false;
      return sendEdits();
    }
    return r;
  });
  return edits.promise;
}
function paint(stroke, live) {
  if (live) state.liveStroke = stroke;
  else {
    state.liveStroke = null;
    state.edits.push(stroke);
  }
  return sendEdits();
}
function undoEdit() {
  if (!state.edits.length) return Promise.resolve({ ok: true });
  state.edits.pop();
  return sendEdits();
}
function resetEdits() {
  state.edits = [];
  state.liveStroke = null;
  return sendEdits();
}
// Brush strokes in a link (strokes=, Copy link): base64url of a version byte (1), then per stroke a
// flags byte (1: erase), its colour (3 bytes, paint only), its radius, its number of points (uint16)
// and the points (x, y); numbers float32 little-endian, which is what the compute module paints
// with, so the strokes come back bit for bit. At most STROKES_LINK.chars characters: longer strokes
// are thinned (every other inner point, which changes them a little) until they fit. A link is read
// defensively (a hostile URL): at most STROKES_LINK.strokes strokes and .points points, finite
// coordinates within [-1, 2] of the side, a radius in (0, 1]; what does not parse is left out.
const STROKES_LINK = { chars: 4000, strokes: 64, points: 4096 };
function encodeStrokes(strokes) {
  let list = strokes.filter((e) => e.marker == null && e.xy && e.xy.length >= 2)
    .map((e) => ({ ...e, xy: Array.from(e.xy).slice(0, 2 * 65535) }));
  const b64 = (list_) => {
    const n = list_.reduce((a, e) => a + 1 + (e.erase ? 0 : 3) + 6 + 4 * (e.xy.length & ~1), 1);
    const bytes = new Uint8Array(n), dv = new DataView(bytes.buffer);
    let o = 0;
    bytes[o++] = 1;
    for (const e of list_) {
      bytes[o++] = e.erase ? 1 : 0;
      if (!e.erase) for (let k = 0; k < 3; k++) bytes[o++] = Math.max(0, Math.min(255, Math.round(+(e.rgb || [])[k] || 0)));
      const m = e.xy.length & ~1;
      dv.setFloat32(o, e.radius, true), o += 4;
      dv.setUint16(o, m >> 1, true), o += 2;
      for (let i = 0; i < m; i++) dv.setFloat32(o, e.xy[i], true), o += 4;
    }
    let bin = '';
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  let text = b64(list);
  while (list.length && text.length > STROKES_LINK.chars) {
    const long = list.some((e) => e.xy.length > 4);
    if (long) list = list.map((e) => (e.xy.length <= 4 ? e : { ...e, xy: e.xy.filter((_, i) => {
      const pt = i >> 1, last = (e.xy.length >> 1) - 1;
      return pt === 0 || pt === last || pt % 2 === 0;
    }) }));
    else list = list.slice(0, -1);
    text = b64(list);
  }
  return list.length ? text : '';
}
// -> {strokes (as state.edits has them), bad: something was left out}
function decodeStrokes(text) {
  const out = { strokes: [], bad: false };
  let bytes;
  try {
    if (text.length > 4 * STROKES_LINK.chars) throw new Error('too long');
    const bin = atob(String(text).replace(/-/g, '+').replace(/_/g, '/'));
    bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch (e) {
    out.bad = true;
    return out;
  }
  const dv = new DataView(bytes.buffer);
  let o = 1, points = 0;
  if (bytes[0] !== 1) return { strokes: [], bad: true };
  while (o < bytes.length) {
    if (out.strokes.length >= STROKES_LINK.strokes) return { ...out, bad: true };
    const erase = bytes[o++] === 1;
    if (o + (erase ? 0 : 3) + 6 > bytes.length) return { ...out, bad: true };
    const rgb = erase ? [255, 255, 255] : [bytes[o++], bytes[o++], bytes[o++]];
    const radius = dv.getFloat32(o, true), n = dv.getUint16(o + 4, true);
    o += 6;
    if (!(radius > 0 && radius <= 1) || n < 1 || points + n > STROKES_LINK.points || o + 8 * n > bytes.length)
      return { ...out, bad: true };
    const xy = [];
    for (let i = 0; i < 2 * n; i++, o += 4) xy.push(dv.getFloat32(o, true));
    if (!xy.every((v) => Number.isFinite(v) && v >= -1 && v <= 2)) return { ...out, bad: true };
    points += n;
    out.strokes.push({ xy, radius, erase, rgb });
  }
  return out;
}

// The object for the pointing game: {side, data} (1 = object; side the network's input), null = the default.
function setMask(m) {
  state.mask = m ? { side: m.side, data: Uint8Array.from(m.data, (v) => (+v ? 1 : 0)) } : null;
  return send({ op: 'mask', side: m ? m.side : 0, mask: m ? state.mask.data.slice().buffer : new ArrayBuffer(0) });
}

// ---------------------------------------------------------------------------- classroom (issue 15)
// The model switch, the marker stamp, the two built-in models side by side, share / embed / save
// figure and the screen readers' summary. The stamp is the core's (model/arch.h stamp_marker,
// through cl_set_edits) and the figure the core's (explain.h explanation_figure, through
// cl_figure); the page only asks for them.

// A model's key in the switch: 'builtin', 'cheater', an absolute URL, or 'file:<name>'.
function modelKey(src) {
  if (typeof src !== 'string') return 'file:' + (src && src.name);
  const abs = new URL(src, location.href).href;
  const b = BUILTIN_MODELS.find((x) => new URL(x.url, location.href).href === abs);
  return b ? b.key : abs;
}
// What the UI's switch, stamp and side-by-side controls show.
function pushClassroom() {
  const models = [...BUILTIN_MODELS.map((b) => ({ key: b.key, label: b.label })),
                  ...[...state.models.values()].map((m) => ({ key: m.key, label: m.label }))];
  const stamp = stamped();
  ui('ui_set_classroom', ['string'], [JSON.stringify({
    models, current: good.weights ? modelKey(good.weights.src) : '', marker: state.marker ? state.marker.positions.length : 0,
    stamped: stamp, compare: twin.on })]);
}
function stamped() {   // the class whose marker is stamped, -1 for none
  const e = [...state.edits].reverse().find((x) => x.marker != null);
  return e ? e.marker : -1;
}

// The model switch: 'builtin', 'cheater', a key of a model loaded this visit, or a weights URL.
async function setModel(x) {
  const b = BUILTIN_MODELS.find((m) => m.key === x);
  const known = state.models.get(x);
  const r = b ? await loadWeights(b.url, b.name) : known ? await loadWeights(known.src, known.label) : await loadWeights(String(x));
  if (!r.ok) throw new Error(r.error ? r.error.text : 'the model did not load');
}

// The markers' geometry: the current model's, else the cheater's (read by a compute module from
// its metadata, in the side-by-side worker).
async function markerGeometry() {
  if (state.marker) return state.marker;
  const url = new URL(BUILTIN_MODELS.find((b) => b.key === 'cheater').url, location.href).href;
  const r = await twinSend({ op: 'describe', label: 'the markers', url });
  if (r.ok && r.model && r.model.marker) state.marker = r.model.marker;
  return state.marker;
}
// Stamps class k's marker (k < 0: removes it); one marker at a time, in the edit list, so Undo
// and Reset take it away too.
async function stampMarker(k) {
  k = Math.round(+k);
  if (!(k >= -1)) throw sayError('stampMarker takes a class index, or -1 to remove the marker');
  let g = null;
  if (k >= 0) {
    g = await markerGeometry();
    if (!g) throw sayError('No model with markers is at hand: the stamp needs the cheater\'s metadata.');
    if (k >= g.positions.length)
      throw sayError('no marker for class %d (the markers are for classes 0 to %d)', k, g.positions.length - 1);
  }
  state.edits = state.edits.filter((e) => e.marker == null);
  if (g) state.edits.push({ marker: k, size: g.size, value: g.value, positions: g.positions });
  pushClassroom();
  return sendEdits();
}

// Side by side: a second compute worker runs the same image (with the same strokes and marker)
// through both built-in models in turn; the page's own worker keeps its model.
const twin = { on: false, busy: false, again: false, promise: null };
// Its worker, supervised as the page's own (watchdog, Cancel); started with the first comparison.
const twinWorker = computeWorker('twin', { threaded: false, onMessage: onTwinMessage, onRestart: () => {} });
function onTwinMessage(m) {
  const p = twinWorker.pending.get(m.id);
  if (m.op === 'progress') showProgress(m, true);   // Cancel replaces this worker
  else if (m.op === 'compare' && p) p.rows = m.rows;
  else if (m.op === 'described' && p) p.model = m.model;
  else if (m.op === 'done' || m.op === 'error') {
    twinWorker.pending.delete(m.id);
    if (m.op === 'done') twinWorker.restarts = 0;
    const why = m.say ? tr(...m.say) : m.message;
    if (p) p.resolve(m.op === 'done' ? { ok: true, rows: p.rows, model: p.model } : { ok: false, message: why });
    watch(twinWorker);
    if (m.fatal) return restartWorker(twinWorker, (t) => (m.say ? t(...m.say) : m.message));
    if (!twinWorker.pending.size) settleIdle();
  }
}
function twinSend(msg) {
  return send(msg, msg.image && msg.image.rgba ? [msg.image.rgba] : [], null, twinWorker);
}
function sideBySide(on) {
  twin.on = !!on;
  if (!twin.on) {
    state.compare = null;
    ui('ui_on_compare', ['string', 'number'], ['[]', 0]);
  }
  pushClassroom();
  return twin.on ? runCompare() : Promise.resolve();
}
function runCompare() {   // the latest image and view; one run at a time, the last request wins
  if (!twin.on || !good.image || !state.model) return Promise.resolve();
  if (twin.busy) {
    twin.again = true;
    return twin.promise;
  }
  twin.busy = true;
  twin.promise = (async () => {
    try {
      do {
        twin.again = false;
        const src = good.image.src;
        const image = typeof src === 'string' ? { url: new URL(src, location.href).href }
          : src instanceof Blob ? { blob: src } : { width: src.width, height: src.height, rgba: src.rgba.slice(0) };
        const v = state.view;
        const r = await twinSend({
          op: 'compare', label: 'side by side', image, strokes: state.edits,
          models: BUILTIN_MODELS.map((b) => ({ key: b.key, label: b.label, url: new URL(b.url, location.href).href })),
          request: { method: v.method, layer: v.camLayer, colormap: v.cmap, alpha: v.alpha, tile: 168, gap: 6 } });
        if (!twin.on) break;
        if (!r.ok) {
          // a hung or cancelled worker has said so already
          if (!r.error) message('compare', (t) => t('Could not run the two models side by side: %s', r.message));
          continue;
        }
        clearMessages('compare');
        const cheater = r.rows.find((x) => x.marker);
        if (cheater && !state.marker) state.marker = cheater.marker;
        let off = 0;
        const bytes = new Uint8Array(r.rows.reduce((n, x) => n + x.rgb.byteLength, 0));
        const rows = r.rows.map((x) => {
          bytes.set(new Uint8Array(x.rgb), off);
          const row = { key: x.key, label: x.label, top: x.top, figure: x.figure, offset: off };
          off += x.rgb.byteLength;
          return row;
        });
        state.compare = rows;
        if (twin.on) uiBytes('ui_on_compare', bytes, [JSON.stringify(rows)]);
      } while (twin.again);
    } catch (e) {
      message('compare', (t) => t('Could not run the two models side by side: %s', said(e)(t)));
    } finally {
      twin.busy = false;
      pushClassroom();
      settleIdle();
    }
  })();
  return twin.promise;
}

// Copy link / Copy embed code: the clipboard, else the text in a message to copy by hand.
function copyText(text, done) {
  const say = () => ui('ui_on_status', ['string'], [tr(done)]);
  state.copied = text;
  if (navigator.clipboard && navigator.clipboard.writeText)
    navigator.clipboard.writeText(text).then(say, () => message('share', (t) => t('The browser did not let the page copy. Here it is: %s', text)));
  else message('share', (t) => t('The browser did not let the page copy. Here it is: %s', text));
}

// Save figure: the core's figure of the current explanation (cl_figure) at devicePixelRatio, its
// caption (class, method, layer; model and image) written under it; a PNG, downloaded when asked.
async function saveFigure(download) {
  if (!state.model || !state.result) throw sayError('no explanation to save yet: load an image first');
  const dpr = window.devicePixelRatio || 1, v = state.view;
  const px = (x) => Math.round(x * dpr);
  const msg = { op: 'figure', label: 'the figure',
                request: { method: v.method, layer: v.camLayer, cls: v.cls, colormap: v.cmap, alpha: v.alpha,
                           tile: px(FIGURE.tile), gap: px(FIGURE.gap) } };
  const r = await send(msg);
  const f = state.figures.get(msg.id);
  state.figures.delete(msg.id);
  if (!r.ok || !f) throw r.error ? new Error(r.error.text) : sayError('the figure could not be drawn');
  const { width, height } = f.info, rgb = new Uint8Array(f.rgb);
  const c = new OffscreenCanvas(width, height + px(FIGURE.caption)), g = c.getContext('2d');
  g.fillStyle = '#fff';
  g.fillRect(0, 0, c.width, c.height);
  const img = g.createImageData(width, height);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    img.data[j] = rgb[i], img.data[j + 1] = rgb[i + 1], img.data[j + 2] = rgb[i + 2], img.data[j + 3] = 255;
  }
  g.putImageData(img, 0, 0);
  g.fillStyle = '#222';
  g.textBaseline = 'top';
  if (zhFace) await zhFace.loaded.catch(() => {});
  g.font = `600 ${px(FIGURE.font)}px system-ui, cnnlens-zh, sans-serif`;
  const fi = f.info;
  g.fillText(tr('%s of %s [%d] at %s', [fi.label], className(fi.class), fi.cls, fi.layer), px(FIGURE.gap), height + px(4),
             width - 2 * px(FIGURE.gap));
  g.font = `${px(FIGURE.font - 2)}px system-ui, cnnlens-zh, sans-serif`;
  g.fillStyle = '#555';
  g.fillText(tr('image | heatmap | overlay. Model: %s%s', [state.model.name],
                state.imageName ? tr('. Image: %s', state.imageName) : ''), px(FIGURE.gap), height + px(26),
             width - 2 * px(FIGURE.gap));
  const blob = await c.convertToBlob({ type: 'image/png' });
  const url = URL.createObjectURL(blob);
  if (download) {
    const a = document.createElement('a');
    a.href = url;
    a.download = `cnnlens-${f.info.method}-${f.info.layer}-class${f.info.cls}.png`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    ui('ui_on_status', ['string'], [tr('Figure saved: %s', a.download)]);
  }
  return { url, width: c.width, height: c.height, figureHeight: height, bytes: new Uint8Array(await blob.arrayBuffer()) };
}

// The screen readers' summary (#summary, aria-live polite): the model, the top-5, what the view
// shows; updated when the page is idle and the text changed.
const summaryRegion = document.getElementById('summary');
const SUMMARY_TABS = { input: 'the input', top5: 'the predictions', maps: 'the feature maps', gradcam: 'where it looks',
                      tools: 'the tools', model: 'the model' };   // keys of the string table
function summaryText() {
  const parts = [];
  if (!state.model) return tr('No model is loaded.');
  parts.push(tr('Model: %s.', [state.model.name]));
  const pct = (p) => (100 * p).toFixed(1) + '%';
  const top = window.cnnlens.top5();
  parts.push(top.length ? tr('Top 5: %s.', top.map((p, i) => `${i + 1}. ${className(p.name)} ${pct(p.prob)}`).join(tr(', ')))
                        : tr('No image yet.'));
  const tab = window.cnnlens.tab();
  const h = state.heat, m = h && state.model.methods.find((x) => x.name === h.method);
  const cls = (i) => {   // the model's name for a class (ImageNet's come with the top-5 only)
    const p = top.find((x) => x.index === i);
    return p ? className(p.name) : state.model.class_names[i] ? className(state.model.class_names[i]) : tr('class %d', i);
  };
  const what = (tab === 'gradcam' || tab === 'tools' || window.cnnlens.layout() === 'wide') && h
    ? tr('%s of %s at %s', [m ? m.label : h.method], cls(h.cls), h.layer) : '';
  const shown = tab === 'maps' && state.layer ? state.layer.name : what;
  if (tab) parts.push(shown ? tr('Showing %s: %s.', [SUMMARY_TABS[tab] || tab], shown) : tr('Showing %s.', [SUMMARY_TABS[tab] || tab]));
  const k = stamped();
  if (k >= 0) parts.push(tr('The marker of %s is stamped on the image.', cls(k)));
  if (twin.on && state.compare)
    parts.push(tr('Side by side: %s.', state.compare.map((r) => tr('%s says %s (%s)', [r.label], className(r.top[0].name),
                                                                     pct(r.top[0].prob))).join(tr('; '))));
  return parts.join(tr(' '));
}
function updateSummary() {
  if (!uiReady) return;
  const t = summaryText();
  if (t === state.summary) return;
  state.summary = t;
  if (summaryRegion) summaryRegion.textContent = t;
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
    ui('ui_on_weights_size', ['number', 'string'], [n ? +n : -1, n ? '' : tr('the server does not say')]);
  } catch (e) {
    ui('ui_on_weights_size', ['number', 'string'], [-1, tr('cannot reach it: %s', e.message)]);
  }
}

async function pasteFromClipboard() {   // the Paste button: an image, else a link
  try {
    for (const item of await navigator.clipboard.read()) {
      const type = item.types.find((t) => t.startsWith('image/'));
      if (type) {
        clearMessages('clipboard');
        return loadImage(await item.getType(type), 'pasted image');
      }
      if (item.types.includes('text/plain')) {
        const u = (await (await item.getType('text/plain')).text()).trim().split('\n')[0];
        if (/^https?:\/\//.test(u)) {
          clearMessages('clipboard');
          return handleUrl(u);
        }
      }
    }
    message('clipboard', (t) => t('The clipboard holds no image and no link to one.'));
  } catch (e) {
    message('clipboard', (t) => t('Reading the clipboard was not allowed: press Ctrl+V (Cmd+V) on the page instead.'));
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
  if (url && /^https?:/.test(url.trim())) handleUrl(url.trim().split('\n')[0]);
});
// Clipboard: emscripten's GLFW has none, so the page's clipboard events serve the UI's text
// fields (main.cpp: ui_paste_text, ui_copy_text). Pasted outside a text field, a file or an
// image is loaded, and so is a link.
document.addEventListener('paste', (e) => {
  const f = [...(e.clipboardData.files || [])][0];
  if (f) {
    e.preventDefault();
    clearMessages('clipboard');
    return handleFile(f);
  }
  const text = e.clipboardData.getData('text/plain');
  if (!text || !uiReady) return;
  e.preventDefault();
  if (!uiCall('ui_paste_text', ['string'], [text])) pastedText(text);   // else: into the text field being edited
});
function pastedText(text) {   // pasted outside a text field: a link loads
  const u = text.trim().split('\n')[0];
  if (/^https?:\/\/\S+$/.test(u)) handleUrl(u);
}
for (const [type, cut] of [['copy', 0], ['cut', 1]]) {
  document.addEventListener(type, (e) => {
    if (!uiReady) return;
    const t = uiCall('ui_copy_text', ['number'], [cut], 'string');
    if (!t) return;
    e.clipboardData.setData('text/plain', t);
    e.preventDefault();
  });
}

// webcam: each frame's forward result sends the next one, which waits in the worker's queue while
// this one is explained: the worker never waits for the page (its drawing, the round trip), and
// at most two frames are ever in flight, so a result is never more than a frame behind.
const webcam = {
  on: false, video: null, stream: null,
  async start() {
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
    } catch (e) {
      message('webcam', (t) => t('The webcam is not available: %s', e.message));
      return;
    }
    clearMessages('webcam');
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
    if (!this.on || !this.video || !this.video.videoWidth) return;
    const jobs = [...pending.values()];
    if (jobs.length >= 2 || jobs.some((p) => !p.msg.webcam)) return;
    loadImage(this.grab(), 'webcam', false, true);
  },
  freeze() {
    this.on = false;
    if (this.stream) this.stream.getTracks().forEach((t) => t.stop());
    this.stream = null;
    ui('ui_on_webcam', ['number'], [0]);
  },
};

// The gallery (samples/index.json, made by build.sh): groups of images, each group with the
// dataset its images come from ("" for photos).
const samplesList = fetch('samples/index.json').then((r) => r.json());
samplesList.then((list) => list.forEach((s) => sampleUrls.set(new URL('samples/' + s.file, location.href).href,
                                                              'samples/' + s.file)), () => {});
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
    list.forEach((s, i) => uiBytes('ui_add_sample', thumbs[i], [s.name, 'samples/' + s.file, s.group || '', s.dataset || '',
                                                                s.thumb || 64, s.thumb || 64]));
  } catch (e) {
    console.warn('samples:', e.message);
  }
}

// ---------------------------------------------------------------------------- start, URL parameters
// The view of URL parameters p (the page's, a lesson step's). reset: what p leaves out goes back
// to its default (the top-1 class, no second class, Grad-CAM) instead of staying as it is.
function applyUrlView(p = params, reset = false) {
  const cls = p.get('class');
  const c = cls == null ? -2 : ui('ui_class_find', ['string'], [cls]);   // an index, a name or a WordNet id (-1: unknown)
  const r = ui('ui_set_view', ['string', 'string', 'number', 'number', 'string', 'string', 'number'],
    [p.get('layer') || '', p.get('camlayer') || '', c < 0 ? (reset ? -1 : -2) : c, reset ? -1 : -2,
     p.get('method') || (reset ? 'gradcam' : ''), p.get('colormap') || '', p.has('alpha') ? +p.get('alpha') : -1]);
  if (r || c === -1) message('url', (t) => t('Some URL parameters do not fit this model (layer, class, method or colormap) and were ignored.'));
}

// Settings the UI needs before its first frame: the compact embed, the UI scale (scale=, else
// the reader's last choice), VGG16's URL (vgg16=), the tab (tab=).
function applyUrlSettings() {
  if (embed) ui('ui_set_embed', ['number'], [1]);
  let scale = params.has('scale') ? +params.get('scale') : NaN;
  if (!(scale > 0)) try { scale = +localStorage.getItem('cnnlens-scale'); } catch (e) { scale = NaN; }
  if (scale > 0) ui('ui_set_scale', ['number'], [Math.min(3, Math.max(0.5, scale))]);
  if (params.get('vgg16')) ui('ui_set_vgg16_url', ['string'], [new URL(params.get('vgg16'), location.href).href]);
  const tab = params.get('tab');
  if (tab) {
    const go = () => {
      if (!uiCall('ui_select_tab', ['string'], [tab]))
        message('tab', (t) => t('There is no tab "%s" (tab= takes maps, gradcam, tools, model, input or top5).', tab));
    };
    if (uiReady) go(); else uiQueue.push(go);
  }
}
applyUrlSettings();

// The model, image and view of URL parameters p: the page's own at start, a lesson step's later
// (lesson: what the step leaves out goes back to its default; the model and image are loaded only
// when they differ from those in, or when the image was painted on). Resolves to the image load.
async function applyView(p, { start = false, lesson = false } = {}) {
  const model = p.get('model'), image = p.get('image');
  const builtin = new URL(DEFAULT_MODEL, location.href).href;
  if (lesson) {   // the layers and method a new model should keep (ui_on_model)
    state.view.layer = p.get('layer');
    state.view.camLayer = p.get('camlayer');
    state.view.method = p.get('method') || 'gradcam';
  }
  if (start && boot.weights) {   // index.html asked for it already
    await boot.weights;
  } else if (start || !good.weights || good.weights.src !== new URL(model || DEFAULT_MODEL, location.href).href) {
    let r = await loadWeights(model || DEFAULT_MODEL, model ? undefined : DEFAULT_MODEL_LABEL, { fallback: !!model });
    if (!r.ok && model) r = await loadWeights(DEFAULT_MODEL, DEFAULT_MODEL_LABEL);   // it says why in a message
  }
  await uiUpPromise;   // the view's class is found by the UI (its class search)
  if (start) await Promise.race([uiDrawn(2), new Promise((res) => setTimeout(res, 1000))]);   // and the page's tab= is open (a hidden tab draws nothing)
  if (state.model) applyUrlView(p, lesson);
  if (start && boot.image) return boot.image;
  if ((lesson || p !== params) && p.get('tab')) ui('ui_select_tab', ['string'], [p.get('tab')]);   // the page's own: applyUrlSettings
  if (image) {
    const same = good.image && (good.image.sample === image || good.image.src === new URL(image, location.href).href);
    if (start || !same || state.edits.length) return loadImage(image);
  } else if (start && good.weights && good.weights.src === builtin) {
    // the built-in model (also in place of a ?model= that failed) opens with the first image of its gallery
    const s = (await samplesList.catch(() => []))[0];
    if (s) return loadImage('samples/' + s.file, s.name);
  }
  return null;
}

async function start() {
  started = false;
  const p = lesson.step ? lessonParams(lesson.step) : params;
  let next = null;
  try {
    next = await applyView(p, { start: true });
  } finally {
    started = true;    // window.cnnlens.ready() waits for the start-up model and image
    settleIdle();
  }
  if (next) await next;
  await applyClassroom(p);
  const tool = p.get('tool');   // tab=tools&tool=occlusion&patch=4&stride=1: run it on the start-up image
  if (tool && state.model) {
    await window.cnnlens.ready();
    const box = (p.get('box') || '').split(',').map(Number);
    if (box.length === 4 && box.every(Number.isFinite)) ui('ui_mask_box', ['number', 'number', 'number', 'number'], box);
    if (!p.get('tab')) ui('ui_select_tab', ['string'], ['tools']);
    runTool(tool, toolOptions(tool, (k) => p.get(k))).catch((e) => message('url', (t) => `tool=${tool}: ${said(e)(t)}`));
  }
}

// strokes=, stamp= and compare= of URL parameters p (the page's, a lesson step's), once the image
// is in; a lesson step without compare=1 turns side by side off.
async function applyClassroom(p, lessonStep = false) {
  if (p.has('strokes') && state.model && good.image) {
    await window.cnnlens.ready();
    const { strokes, bad } = decodeStrokes(p.get('strokes'));
    if (bad) message('url', (t) => t('Some brush strokes in the link could not be read and were left out.'));
    if (strokes.length) {
      state.edits = strokes;
      await sendEdits();
    }
  }
  if (p.has('stamp') && state.model) {
    await window.cnnlens.ready();
    await stampMarker(p.get('stamp')).catch((e) => message('url', (t) => `stamp=${p.get('stamp')}: ${said(e)(t)}`));
  }
  if (/^(1|true|yes)$/i.test(p.get('compare') || '') && state.model) {
    if (!p.get('tab')) ui('ui_select_tab', ['string'], ['tools']);
    sideBySide(true);
  } else if (lessonStep && twin.on) {
    sideBySide(false);
  }
  pushClassroom();
}

// ---------------------------------------------------------------------------- lesson, language
function lessonParams(step) { return new URLSearchParams(LESSON[step - 1].view); }
// The lesson box's texts (the UI draws them), in the page's language; step 0: no box.
function lessonShow() {
  const s = LESSON[lesson.step - 1];
  const t = (x) => (s ? x[lang] || x.en : '');
  ui('ui_set_lesson', ['number', 'number', 'string', 'string', 'string'],
     s ? [lesson.step, LESSON.length, t(s.title), t(s.text), t(s.try)] : [0, 0, '', '', '']);
}
// The address bar says where the reader is: lesson=1&step=N (a link to this step), and lang= when
// the page's came with one or the reader switched.
function updateUrl() {
  const p = new URLSearchParams(lesson.step ? '' : location.search);
  p.delete('lesson');
  p.delete('step');
  if (lesson.step) { p.set('lesson', '1'); p.set('step', String(lesson.step)); }
  if (params.has('lang') || langChosen) p.set('lang', lang); else p.delete('lang');
  const q = p.toString();
  history.replaceState(null, '', location.pathname + (q ? '?' + q : '') + location.hash);
}
// Opens step n (1..LESSON.length) with its view; 0 ends the lesson (the view stays).
async function lessonGo(n) {
  n = Math.round(+n) || 0;
  lesson.step = n <= 0 ? 0 : lessonClamp(n);
  lessonShow();
  updateUrl();
  if (!lesson.step || !started) return lesson.step;   // before the start-up, start() applies it
  const p = lessonParams(lesson.step);
  const next = await applyView(p, { lesson: true });
  if (next) await next;
  await applyClassroom(p, true);
  return lesson.step;
}

// The language to the UI module (with the Chinese font's bytes the first time), then the lesson's
// texts; Module.cnnlensLangApplied marks the first frame in the page's language (timings().firstPaint).
let langChosen = false;   // the reader switched in the page (the URL then says lang=)
async function applyLang(l) {
  let font = null;
  if (l === 'zh') {
    try {
      font = await loadZhFont();
    } catch (e) {
      message('lang', `The Chinese font could not be loaded (${e.message}); the page stays in English.`);
      l = 'en';
    }
  }
  lang = l;
  document.documentElement.lang = l === 'zh' ? 'zh-CN' : 'en';
  const go = () => {
    if (font && !zhFontSent) {
      const p = Module._malloc(font.ttf.byteLength);
      Module.HEAPU8.set(font.ttf, p);
      uiCall('ui_set_lang', ['string', 'number', 'number', 'string'], ['zh', p, font.ttf.byteLength, font.chars]);
      Module._free(p);
      zhFontSent = true;
    } else {
      uiCall('ui_set_lang', ['string', 'number', 'number', 'string'], [l, 0, 0, '']);
    }
    Module.cnnlensLangApplied = true;
    Module._ui_wake();
    pageTexts();
    updateSummary();
  };
  if (uiReady) go(); else uiQueue.push(go);
  if (font && !zhFace) {   // the figure's caption (a 2D canvas) draws Chinese with the same glyphs
    zhFace = new FontFace('cnnlens-zh', font.ttf);
    document.fonts.add(zhFace);
    zhFace.load().catch(() => {});
  }
  lessonShow();
  return lang;
}
let zhFace = null;
// The page's own words in index.html (its title, the screen readers' heading and paragraph, the
// canvas's label), English there, in the page's language here (keys of the string table).
const PAGE_TEXTS = [[document, 'title'], [document.getElementById('about-title'), 'textContent'],
                    [document.getElementById('about-text'), 'textContent'], [canvas, 'aria-label']]
  .filter(([el]) => el).map(([el, prop]) => ({ el, prop, en: String(prop === 'aria-label' ? el.getAttribute(prop) : el[prop])
    .replace(/\s+/g, ' ').trim() }));
function pageTexts() {
  for (const x of PAGE_TEXTS) {
    if (x.prop === 'aria-label') x.el.setAttribute(x.prop, tr(x.en)); else x.el[x.prop] = tr(x.en);
  }
}
async function setLang(l) {
  const want = langOf(l);
  if (!want) throw new Error('unknown language ' + l + ' (en, zh)');
  langChosen = true;
  try { localStorage.setItem('cnnlens-lang', want); } catch (e) { /* storage refused: this visit only */ }
  const got = await applyLang(want);
  updateUrl();
  return got;
}


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
  // Runs the network again on the current image, with the current view's maps (a benchmark's
  // repetition); resolves to timings() of that run.
  async run() {
    if (!good.image || !state.model) throw new Error('run needs a model and an image');
    await send({ op: 'run', view: workerView(), label: good.image.name });
    await this.ready();
    return this.timings();
  },
  model: () => state.model && { name: state.model.name, layout: state.model.layout, inputSize: state.model.input_size,
                                lean: state.model.lean,
                                head: state.model.head, numClasses: state.model.num_classes,
                                dataset: state.model.dataset, knows: state.model.knows,
                                layers: state.model.layers.map((l) => l.name),
                                methods: state.model.methods.filter((m) => m.in_menu)
                                  .map((m) => ({ name: m.name, label: m.label, unavailable: m.unavailable })),
                                tools: state.model.tools.map((t) => ({ name: t.name, label: t.label })),
                                occlusion: { ...state.model.occlusion } },
  top5: () => (state.result ? state.result.top.map((p) => ({ ...p })) : []),
  // The image as the network saw it (fitted to its input size): {side, rgb: number[] (side * side * 3)}.
  input: () => state.input && { side: state.input.side, rgb: Array.from(state.input.rgb) },
  layers: () => (state.model ? state.model.layers.map((l) => ({ ...l })) : []),
  // The selected layer's feature maps: {layer, h, w, c, data: Float32Array HWC}.
  activations: () => state.layer && { layer: state.layer.name, h: state.layer.h, w: state.layer.w, c: state.layer.c,
                                      data: state.layer.data },
  setLayer(name) { return this._view(name, '', -2, -2, '', ''); },
  setCamLayer(name) { return this._view('', name, -2, -2, '', ''); },
  // Classes by index, name or WordNet id (the core's class_find), both of them; c2: the class to
  // compare with ('off' or -1: none; omitted: unchanged). c null: the top-1.
  setClass(c, c2) {
    const n = state.model ? state.model.num_classes : 0;
    const resolve = (x, second) => {
      if (typeof x === 'number') return Number.isInteger(x) && x >= -1 && x < n ? x : null;
      if (second && /^(off|none)$/i.test(String(x))) return -1;
      const i = ui('ui_class_find', ['string'], [String(x)]);
      return i >= 0 ? i : null;
    };
    const a = c == null ? -1 : resolve(c, false);
    const b = c2 === undefined ? -2 : c2 === null ? -1 : resolve(c2, true);
    if (a === null) return Promise.reject(new Error('unknown class ' + c));
    if (b === null) return Promise.reject(new Error('unknown class ' + c2));
    return this._view('', '', a, b, '', '');
  },
  setMethod(m) {
    const names = state.model ? state.model.methods.filter((x) => x.in_menu).map((x) => x.name) : [];   // the core's table (explain/methods.h)
    if (!names.includes(m)) return Promise.reject(new Error('unknown method ' + m + ' (' + names.join(', ') + ')'));
    const why = state.model.methods.find((x) => x.name === m).unavailable;
    if (why) return Promise.reject(new Error(m + ' cannot run on this model: ' + why));
    return this._view('', '', -2, -2, m, '');
  },
  setColormap(c) { return this._view('', '', -2, -2, '', c); },
  // {guided, filmstrip, sharedScale} (Where it looks), {channel, sortByWeight, normalise:
  // 'channel'|'layer'|'network', tile} (Feature maps)
  async setOptions(o) {
    const b = (v) => (v == null ? -1 : v ? 1 : 0);
    const scope = { channel: 0, layer: 1, network: 2 }[o.normalise];
    ui('ui_set_options', ['number', 'number', 'number', 'number', 'number', 'number', 'number'],
      [b(o.guided), b(o.filmstrip), o.channel == null ? -3 : o.channel < 0 ? -2 : o.channel, b(o.sortByWeight),
       scope == null ? -1 : scope, o.tile || 0, b(o.sharedScale)]);
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
  // The current heatmap at layer resolution: {layer, method, cls, h, w, data: number[], weights};
  // slot 1: the class compared with.
  heatmap(slot = 0) {
    const h = slot ? state.heats[slot] : state.heat;
    return h ? { layer: h.layer, method: h.method, cls: h.cls, h: h.h, w: h.w, data: Array.from(h.data),
                 weights: h.weights && Array.from(h.weights) } : null;
  },
  // The filmstrip's maps and the scale each is drawn with: [{layer, min, max, lo, hi}].
  filmstrip: () => uiJson('ui_filmstrip') || [],
  // firstPaint: ms from navigation to the first frame drawn in the page's language
  // marks: the start path, ms from navigation to each step's first occurrence (index.html, README "Start-up")
  timings: () => ({ ...state.timings, firstPaint: Module.cnnlensFirstPaint == null ? null : Module.cnnlensFirstPaint,
                    marks: { ...(window.cnnlensMarks || {}) } }),
  errors: () => state.errors.map((e) => ({ ...e })),
  lastError: () => state.lastError,
  // The messages the toast area shows now: [{kind, text, error}].
  messages: () => uiJson('ui_messages') || [],
  cancel() { cancel(); },   // as the Cancel button: stops a weights download, or a computation (a new worker)
  // How long the compute worker may stay silent with work to do before it is replaced (ms).
  setWatchdog(ms) { watchdog.ms = Math.max(1, +ms || 30000); watch(mainWorker); watch(twinWorker); },
  // Compute workers started (more than 1 after a restart), results received, side-by-side workers started.
  stats: () => ({ workers: mainWorker.workers, results: state.results, twinWorkers: twinWorker.workers }),
  // Starts the webcam (frames are classified one after the other) or freezes the last frame.
  async webcam(on) {
    if (on) await webcam.start(); else webcam.freeze();
    return webcam.on;
  },
  imageName: () => state.imageName,
  frames: () => Module.cnnlensFrames || 0,   // frames drawn (the UI draws nothing while idle)
  redraw() { ui('ui_wake', [], []); },
  memory: () => ({ wasmHeapBytes: state.heapBytes }),   // the compute module's linear memory
  // Tabs by id: input, top5, maps, gradcam, model (as tab=). selectTab is false for an unknown name.
  selectTab(name) { return !!ui('ui_select_tab', ['string'], [name]); },
  tab: () => (uiReady ? uiCall('ui_open_tab', [], [], 'string') : ''),   // the open tab's id
  layout: () => (uiReady ? uiCall('ui_layout', [], [], 'string') : ''),   // 'wide', 'narrow' or 'embed'
  // Input events (mouse buttons, keys, text) the UI has not handled yet: it takes them in order,
  // about one per frame.
  inputPending: () => (uiReady ? Module._ui_pending_input() : 0),
  // What has the keyboard focus: {label, x, y, w, h, editing} (CSS pixels), or null.
  focused: () => uiJson('ui_focused'),
  // A named part of the UI as last drawn (a gallery image "sample <name>", "heatmap", "tab gradcam",
  // "Load VGG16", ...): {x, y, w, h, visible} in CSS pixels, or null.
  item: (name) => uiJson('ui_item', ['string'], [name]),
  scale: () => (uiReady ? Module._ui_get_scale() : 1),   // the UI scale (1 = 100%), on top of devicePixelRatio
  setScale(s) { return setScale(s); },
  // A link to this view in the full page (the embed's "Open in full page", Copy link): the model
  // (a site model relative to the page; a dropped file cannot be linked), the image, the view,
  // the tab, a stamped marker, side by side, the tool last run on the Tools tab.
  link() {
    const p = new URLSearchParams(), v = state.view;
    const set = (k, x) => { if (x != null && x !== '') p.set(k, String(x)); };
    if (good.weights && typeof good.weights.src === 'string' && modelKey(good.weights.src) !== 'builtin')
      set('model', good.weights.src.startsWith(base) ? good.weights.src.slice(base.length) : good.weights.src);
    if (good.image && typeof good.image.src === 'string') set('image', good.image.sample || good.image.src);
    set('tab', this.tab());
    set('layer', v.layer);
    set('camlayer', v.camLayer);
    if (v.cls >= 0) set('class', v.cls);
    set('method', v.method);
    set('colormap', v.cmap);
    if (v.alpha !== 0.5) set('alpha', v.alpha);
    if (good.image && typeof good.image.src === 'string') set('strokes', encodeStrokes(state.edits));
    if (stamped() >= 0) set('stamp', stamped());
    if (twin.on) set('compare', 1);
    set('vgg16', params.get('vgg16'));
    if (lang !== 'en') set('lang', lang);
    if (this.tab() === 'tools' && state.lastTool && state.tools[state.lastTool.name]) {   // the tool last run, again
      set('tool', state.lastTool.name);
      for (const [k, v] of Object.entries(state.lastTool.options)) set(k, Array.isArray(v) ? v.join(',') : v);
    }
    return base + 'index.html?' + p.toString();
  },
  // The <iframe> of this view in the embed layout (embed=1), for a blog post (works without
  // cross-origin isolation: the single-threaded build runs).
  embedSnippet() {
    const u = new URL(this.link());
    u.searchParams.set('embed', '1');
    const esc = (t) => t.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
    return `<iframe src="${esc(u.href)}" width="760" height="480" style="border: 0" title="CNN Lens" ` +
      `allow="clipboard-write"></iframe>`;
  },
  // The model switch: 'builtin', 'cheater', the key of a model loaded this visit (models()) or a
  // weights URL; resolves to the model's name, rejects with the page's message.
  async setModel(x) { await setModel(x); await this.ready(); return state.model.name; },
  // The switch's entries [{key, label}] and which is in use.
  models: () => ({ current: good.weights ? modelKey(good.weights.src) : '',
                   list: [...BUILTIN_MODELS.map((b) => ({ key: b.key, label: b.label })),
                          ...[...state.models.values()].map((m) => ({ key: m.key, label: m.label }))] }),
  // Stamps class k's marker (the cheater's metadata: cnnlens.marker()) into the image, -1 removes
  // it; the network runs again; resolves to the top-5.
  async stampMarker(k) { await stampMarker(k); await this.ready(); return this.top5(); },
  stamped: () => stamped(),
  marker: () => state.marker && { size: state.marker.size, value: state.marker.value, positions: state.marker.positions.map((p) => [...p]) },
  // Side by side: both built-in models on the current image (with its strokes and marker); resolves
  // to their rows [{key, label, top, figure}] (null when off).
  async sideBySide(on) {
    if (on) this.selectTab('tools');
    await sideBySide(on);
    await this.ready();
    return this.compare();
  },
  compare: () => state.compare && state.compare.map((r) => ({ key: r.key, label: r.label, top: r.top.map((p) => ({ ...p })),
                                                              figure: { ...r.figure } })),
  // Save figure: the PNG of the current explanation at devicePixelRatio ({url: a blob URL, width,
  // height, figureHeight (the pictures, without the caption), bytes: Uint8Array}); download: also
  // save it as a file.
  saveFigure({ download = false } = {}) { return saveFigure(download); },
  // What the screen readers' live region says now.
  summary: () => (summaryRegion ? summaryRegion.textContent : ''),
  view: () => ({ ...state.view }),
  // The guided lesson: the step shown (0: none) and how many there are; lessonStep(n) opens step n
  // with its view (0 ends the lesson) and resolves when it is computed.
  lesson: () => ({ step: lesson.step, steps: LESSON.length,
                   title: lesson.step ? LESSON[lesson.step - 1].title[lang] : '', view: lesson.step ? LESSON[lesson.step - 1].view : '' }),
  async lessonStep(n) { const s = await lessonGo(n); await this.ready(); return s; },
  // The language: 'en' or 'zh' (setLang remembers the choice, as the page's switch does).
  lang: () => lang,
  async setLang(l) { const r = await setLang(l); await new Promise((res) => requestAnimationFrame(() => res())); return r; },
  // The font atlas (its texture size and glyph count: the Chinese subset's cost).
  fontAtlas: () => uiJson('ui_font_atlas'),
  // The tools (explain/tools.h): runs one on the current image and resolves to its numbers, also
  // shown in the Tools tab; options: TOOL_OPTIONS above, cls, layer. Rejects 'cancelled' on Cancel.
  async tool(name, options = {}) {
    const r = await runTool(name, options);
    await this.ready();
    return r;
  },
  toolResult: (name) => state.tools[name] && { ...state.tools[name], maps: Array.from(state.tools[name].maps) },
  // The brush: {points: [[x, y], ...] in pixels of the input the network sees (cnnlens.input().side),
  // radius (pixels), erase (default true: the blank colour, the preprocessing mean), color: [r, g, b]};
  // the network runs again; resolves to the top-5.
  async paint({ points, radius = 2, erase = true, color = [255, 255, 255] }) {
    const side = state.input ? state.input.side : 0;
    if (!side || !points || !points.length) throw new Error('paint needs an image and at least one point');
    const xy = points.flat().map((v) => v / side);
    await paint({ xy, radius: radius / side, erase: !!erase, rgb: color }, false);
    await this.ready();
    return this.top5();
  },
  async undo() { await undoEdit(); await this.ready(); return this.top5(); },
  async reset() { await resetEdits(); await this.ready(); return this.top5(); },
  edits: () => state.edits.map((e) => ({ ...e })),
  // The object for the pointing game: {box: [x0, y0, x1, y1]} or {side, data} (1 = object) in pixels
  // of the input, or null: the model's default (the garment for Fashion-MNIST models).
  async setMask(m) {
    if (m && m.box) ui('ui_mask_box', ['number', 'number', 'number', 'number'], m.box);
    else if (m) uiBytes('ui_set_mask', Uint8Array.from(m.data, (v) => (+v ? 1 : 0)), [m.side]);
    else ui('ui_mask_clear', ['number'], [1]);
    await new Promise((res) => setTimeout(res, 0));
    await this.ready();
  },
};

startWorker(mainWorker);   // last: the messages that came before this file ran are handled now
