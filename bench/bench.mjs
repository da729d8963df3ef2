// bench.mjs: CNN Lens side by side with its peers, in one run (issue 13); `./build.sh bench-peers`.
//
//   node bench/bench.mjs [--weights VGG16.safetensors|.pth] [--reps N] [--loads N] [--out FILE]
//
// In one headless Chromium (Debian's, through playwright-core):
//   - the page (build/site, through window.cnnlens): the built-in model's page open to first
//     prediction (--loads page loads per build; step by step: bench/startup.mjs); with VGG16: weights load, wasm memory, forward
//     (cnnlens.run(): the core's forward time), forward + Grad-CAM at every conv layer (the
//     filmstrip: forward + the worker's explain time); the single-threaded build (not isolated),
//     the threaded build on 2 threads and on 1 (?threads=1), cross-origin isolated;
//   - the site's compute worker alone (bench/bare.html: no UI, nothing drawn), forward only: the
//     page's forward over it is the UI's cost (issue 13, item 2);
//   - the peers (bench/peers.html; `npm ci` in bench/): TF.js 'wasm' backend (a layers-API
//     VGG16) and onnxruntime-web (wasm EP) on 1 and 2 threads, the same weights, the same input.
// Then, on the command line: `cnnlens bench` native and under node (both wasm builds) and Debian's
// PyTorch (bench/torch_vgg16.py), 1 and 2 threads.
// Without --weights, VGG16 with torchvision's random initialisation (seed 7), made once into
// build/bench/models (with its ONNX and TF.js copies). Output: a table, and every run's time with
// medians, spreads, ratios and the machine's load in build/bench/bench.json.
// A benchmark, not a test: timings on a shared machine are noisy; read the load next to them.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, SITE, launch, openApp, startServer } from '../tests/e2e/helpers.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf('--' + name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const REPS = +opt('reps', 5);
const LOADS = +opt('loads', 3);
const OUT = path.resolve(opt('out', path.join(ROOT, 'build/bench/bench.json')));
const ONLY = (opt('only', 'page,bare,peers,cli')).split(',');   // parts to run (for trying the script)
const PY = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';   // Debian's, with python3-torch
const NODE = [process.execPath, '--no-experimental-fetch'];
fs.mkdirSync(path.dirname(OUT), { recursive: true });

const load = () => os.loadavg().map((v) => +v.toFixed(2));
const log = (...a) => console.log(`[${new Date().toISOString().slice(11, 19)} load ${load()[0]}]`, ...a);
function stats(ms) {
  const s = [...ms].sort((a, b) => a - b), n = s.length;
  const q = (p) => s[Math.min(n - 1, Math.max(0, Math.round(p * (n - 1))))];
  return { median: n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, min: s[0], max: s[n - 1],
           q1: q(0.25), q3: q(0.75), n, runs: ms.map((v) => +v.toFixed(2)) };
}

const result = {
  started: new Date().toISOString(),
  machine: { nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length, cpu: os.cpus()[0].model,
             memGiB: +(os.totalmem() / 2 ** 30).toFixed(1), loadBefore: load(), node: process.version,
             chromium: execFileSync(process.env.CHROMIUM || '/usr/bin/chromium', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim() },
  settings: { reps: REPS, loads: LOADS },
  page: {}, peers: {}, cli: {}, sanity: {}, ratios: {}, errors: [],
};

// A part that fails is recorded (result.errors) and the others still run.
async function part(name, f) {
  try {
    await f();
  } catch (e) {
    result.errors.push(`${name}: ${e.message}`);
    log(`FAILED: ${name}: ${e.message}`);
  }
}

// As a click would come: once the page has drawn the last result (no frame for 100 ms; the UI
// draws for a fifth of a second after news) and the browser has done drawing it: its processes
// under a tenth of a core for 200 ms (SwiftShader draws on the CPU, on every core, behind the
// page's frames: starting at once took the threaded build's filmstrip from 165 to 185 ms).
async function settle(page) {
  await page.evaluate(async () => {
    const c = window.cnnlens, sleep = (ms) => new Promise((f) => setTimeout(f, ms));
    for (let i = 0, f = c.frames(); i < 30; i++) {
      await sleep(100);
      if (c.frames() === f) return;
      f = c.frames();
    }
  });
  const total = () => Object.values(browserCpu()).reduce((a, b) => a + b, 0);
  for (let i = 0; i < 25; i++) {
    const a = total();
    await new Promise((f) => setTimeout(f, 200));
    if (total() - a <= 0.02) return;
  }
}

// ---------------------------------------------------------------- models: one VGG16 for everyone
log('models (bench/torch_vgg16.py models)');
const mk = spawnSync(PY, [path.join(ROOT, 'bench/torch_vgg16.py'), 'models', '--out', path.join(ROOT, 'build/bench/models'),
                          ...(opt('weights') ? ['--weights', path.resolve(opt('weights'))] : [])],
                     { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (mk.status !== 0) throw new Error('torch_vgg16.py models failed');
const models = JSON.parse(mk.stdout.trim().split('\n').pop());
for (const k of Object.keys(models.files)) models.files[k] = path.resolve(ROOT, models.files[k]);
result.models = models;
const weights = models.files.cnnlens;
const INPUT = path.join(ROOT, 'build/bench/input.rgb');   // the page's 224x224 RGB input, for every peer

// ---------------------------------------------------------------- the browser: the page and the peers
const link = path.join(SITE, 'e2e-data', 'bench-vgg16.safetensors');
const link8 = path.join(SITE, 'e2e-data', 'bench-vgg16-int8.safetensors');
async function browserPart() {
  if (!fs.existsSync(path.join(SITE, 'index.html'))) throw new Error('no build/site: ./build.sh web first');
  fs.mkdirSync(path.dirname(link), { recursive: true });
  for (const l of [link, link8]) fs.rmSync(l, { force: true });
  fs.symlinkSync(weights, link);
  // the int8-fc pack of the same weights (issue 13, item 6: its wasm memory)
  const int8 = path.join(ROOT, 'build/bench/models/vgg16-int8.safetensors');
  execFileSync(path.join(ROOT, 'build/native/cnnlens'), ['pack', '--weights', weights, '--out', int8, '--kind', 'int8-fc'],
               { stdio: ['ignore', 'ignore', 'inherit'] });
  fs.symlinkSync(int8, link8);
  const servers = { coi: await startServer({ coi: true }), plain: await startServer({ coi: false }),
                    root: await startServer({ coi: true, root: ROOT }) };
  const browser = await launch();
  PROFILE = browser.userDataDir;
  try {
    if (ONLY.includes('page')) await part('page', () => pagePart(browser, servers));
    if (ONLY.includes('bare')) await part('bare', () => barePart(browser, servers));
    if (ONLY.includes('peers')) await part('peers', () => peersPart(browser, servers));
  } finally {
    await browser.close();
    for (const s of Object.values(servers)) s.stop();
    for (const l of [link, link8]) fs.rmSync(l, { force: true });
  }
}

// CPU seconds (user + system) of the browser's processes by type (renderer: the page and its
// workers, the compute included; gpu-process: SwiftShader drawing the UI on the CPU; browser),
// for where the page's time goes (issue 13, item 2). Linux /proc; {} elsewhere.
let PROFILE = '';   // this run's browser profile: its processes, not other browsers'
function browserCpu() {
  const out = {};
  let tick = 100;
  try {
    tick = +execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }) || 100;
    for (const pid of fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let cmd, stat;
      try {
        cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      } catch { continue; }
      // this run's browser only (child processes rewrite their command line: spaces, not NULs)
      if (!PROFILE || !new RegExp('--user-data-dir=' + PROFILE + '(\\s|\\0|$)').test(cmd)) continue;
      const type = (cmd.match(/--type=([a-z-]+)/) || [null, 'browser'])[1];
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out[type] = (out[type] || 0) + (+f[11] + +f[12]) / tick;   // utime, stime
    }
  } catch { /* not Linux */ }
  return out;
}
const cpuDelta = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, +(b[k] - (a[k] || 0)).toFixed(2)]));

const BUILDS = [   // name, server, URL parameters
  { name: 'single', server: 'plain', query: '' },
  { name: 'threaded2', server: 'coi', query: '&threads=2' },
  { name: 'threaded1', server: 'coi', query: '&threads=1' },
];

async function pagePart(browser, servers) {
  // the built-in model: page open to first prediction (performance.now() at the first result)
  for (const b of BUILDS.slice(0, 2)) {
    const first = [], wall = [];
    for (let i = 0; i < LOADS; i++) {
      const t0 = Date.now();
      const { page } = await openApp(browser.context, servers[b.server].url + '?' + b.query.slice(1));
      await page.waitForFunction(() => window.cnnlens.top5().length > 0);
      wall.push(Date.now() - t0);
      first.push((await page.evaluate(() => window.cnnlens.timings())).pageToFirstPrediction);
      await page.close();
    }
    result.page[b.name] = { builtinFirstPrediction: stats(first), builtinFirstPredictionWall: stats(wall),
                            note: 'page load 1 is with a cold HTTP cache, later ones revalidate (304)' };
    log(`built-in model, ${b.name}: first prediction ${first.map((v) => v.toFixed(0)).join(', ')} ms`);
  }
  // VGG16
  for (const b of BUILDS) {
    const r = result.page[b.name] = result.page[b.name] || {};
    r.loadBefore = load();
    const { page, errors } = await openApp(browser.context, servers[b.server].url + '?image=samples/chelsea.jpg' + b.query);
    const info = await page.evaluate(() => ({ threaded: window.cnnlens.threaded, threads: window.cnnlens.threads,
                                              isolated: self.crossOriginIsolated }));
    Object.assign(r, info);
    const t0 = Date.now();
    await page.evaluate(() => window.cnnlens.loadWeights('e2e-data/bench-vgg16.safetensors'));
    const err = await page.evaluate(() => window.cnnlens.lastError());
    if (err) throw new Error(`${b.name}: ${err.text}`);
    r.weightsLoadWall = Date.now() - t0;
    r.weightsTimings = await page.evaluate(() => window.cnnlens.timings());
    r.wasmMemoryMiB = (await page.evaluate(() => window.cnnlens.memory())).wasmHeapBytes / 2 ** 20;
    await page.evaluate(async () => {
      await window.cnnlens.setLayer('block5_conv3');
      await window.cnnlens.setCamLayer('block5_conv3');
      await window.cnnlens.setOptions({ filmstrip: false });
    });
    for (const filmstrip of [false, true]) {
      await page.evaluate((f) => window.cnnlens.setOptions({ filmstrip: f }), filmstrip);
      const cpu0 = browserCpu();
      // The filmstrip: more clicks for its ratio (below), after three to warm up (the first backward
      // makes its operators, and in this VM the next few backward passes often run slower).
      const [reps, warm] = filmstrip ? [2 * REPS + 1, 3] : [REPS, 1];
      for (let i = 0; i < warm; i++) await page.evaluate(() => window.cnnlens.run());
      const runs = [];
      for (let i = 0; i < reps; i++) {
        await settle(page);
        runs.push(await page.evaluate(async () => {
          const c = window.cnnlens, f0 = c.frames(), t0 = performance.now();
          const t = await c.run();
          return { wall: performance.now() - t0, frames: c.frames() - f0, forward: t.forward, backward: t.backward,
                   maps: t.explain, explain: t.explainTotal };
        }));
      }
      const key = filmstrip ? 'forwardGradcamAll' : 'forward';
      r[key + 'BrowserCpuSeconds'] = cpuDelta(cpu0, browserCpu());   // over the warm-up and the reps
      r[key] = filmstrip ? stats(runs.map((x) => x.forward + x.explain)) : stats(runs.map((x) => x.forward));
      r[key + 'Parts'] = { forward: stats(runs.map((x) => x.forward)), explain: stats(runs.map((x) => x.explain)),
                           backward: stats(runs.map((x) => x.backward)), maps: stats(runs.map((x) => x.maps)),
                           roundTrip: stats(runs.map((x) => x.wall)),
                           fps: stats(runs.map((x) => (1000 * x.frames) / x.wall)) };
      // Grad-CAM at every layer against the forward of the same click (the two parts run back to
      // back, under the same conditions): the median of those ratios. This VM's speed moves by up
      // to 2x for seconds at a time, which moved the ratio of the medians of separate series of
      // runs by about 10%.
      if (filmstrip) r.gradcamAllPerClick = stats(runs.map((x) => (x.forward + x.explain) / x.forward));
      log(`VGG16 page, ${b.name} (${info.threaded ? 'threaded' : 'single-thread'} build, ${info.threads} thread(s)) ` +
          `${filmstrip ? 'forward + Grad-CAM at every conv layer' : 'forward'}: median ${r[key].median.toFixed(0)} ms`);
    }
    r.filmstripLayers = await page.evaluate(() => {   // the heatmaps of the last run: slots 100 + i, one per conv layer
      let n = 0;
      while (window.cnnlens.heatmap(100 + n)) n++;
      return n;
    });
    r.top5 = await page.evaluate(() => window.cnnlens.top5());
    r.wasmMemoryMiBAfter = (await page.evaluate(() => window.cnnlens.memory())).wasmHeapBytes / 2 ** 20;
    if (!fs.existsSync(INPUT) || b.name === 'single') {
      const input = await page.evaluate(() => window.cnnlens.input());
      if (input.side !== 224) throw new Error('the page fed VGG16 a ' + input.side + ' px input');
      fs.writeFileSync(INPUT, Buffer.from(input.rgb));
    }
    // the webcam (Chromium's fake device, 640x480, each frame to 224x224): frames classified
    // with Grad-CAM at the last conv layer per second, and the UI's frames per second meanwhile
    await page.evaluate(() => window.cnnlens.setOptions({ filmstrip: false }));
    r.webcam = await page.evaluate(async (seconds) => {
      const c = window.cnnlens, sleep = (ms) => new Promise((f) => setTimeout(f, ms));
      if (!(await c.webcam(true))) return { error: 'the webcam did not start' };
      await sleep(2000);   // its first frames: warm-up
      const r0 = c.stats().results, f0 = c.frames(), t0 = performance.now();
      await sleep(seconds * 1000);
      const out = { seconds, results: c.stats().results - r0, uiFrames: c.frames() - f0, ms: performance.now() - t0 };
      await c.webcam(false);
      await c.ready();
      out.fps = (1000 * out.results) / out.ms, out.uiFps = (1000 * out.uiFrames) / out.ms;
      return out;
    }, 10);
    log(`VGG16 page, ${b.name}: webcam with Grad-CAM at block5_conv3: ${r.webcam.error || r.webcam.fps.toFixed(2) + ' fps'}`);
    r.consoleErrors = errors.slice(0, 5);
    r.loadAfter = load();
    await page.close();
  }
  // the int8-fc pack (lean convolutions, model/conv3x3.h): wasm memory after forward and the
  // filmstrip's backward, and its forward
  for (const b of BUILDS.slice(0, 2)) {
    const r = result.page[b.name];
    const { page } = await openApp(browser.context, servers[b.server].url + '?image=samples/chelsea.jpg' + b.query);
    await page.evaluate(() => window.cnnlens.loadWeights('e2e-data/bench-vgg16-int8.safetensors'));
    const err = await page.evaluate(() => window.cnnlens.lastError());
    if (err) throw new Error(`${b.name} int8-fc: ${err.text}`);
    const ms = await page.evaluate(async (reps) => {
      const c = window.cnnlens, out = [];
      await c.run();   // warm-up
      for (let i = 0; i < reps; i++) out.push((await c.run()).forward);
      await c.setOptions({ filmstrip: true });
      await c.run();
      return out;
    }, Math.min(REPS, 3));
    r.int8 = { forward: stats(ms), top5: await page.evaluate(() => window.cnnlens.top5()),
               wasmMemoryMiB: (await page.evaluate(() => window.cnnlens.memory())).wasmHeapBytes / 2 ** 20 };
    log(`VGG16 int8-fc pack, ${b.name}: wasm memory ${r.int8.wasmMemoryMiB.toFixed(0)} MiB, forward median ${r.int8.forward.median.toFixed(0)} ms`);
    await page.close();
  }
}

// The site's compute worker alone (bench/bare.html: no UI, nothing drawn): the page's forward
// minus this one is what the page around the worker costs (drawing on SwiftShader, messages).
async function barePart(browser, servers) {
  result.bare = {};
  for (const [name, threaded, threads] of [['single', false, 1], ['threaded2', true, 2], ['threaded1', true, 1]]) {
    const page = await browser.context.newPage();
    const loadBefore = load();
    await page.goto(servers.root.url + 'bench/bare.html');
    const info = await page.evaluate((a) => window.bare.start(a), {
      threaded, threads, weights: '../' + path.relative(ROOT, weights), image: '../assets/samples/chelsea.jpg' });
    const cpu0 = browserCpu();
    const ms = await page.evaluate((reps) => window.bare.forward(reps), REPS);
    result.bare[name] = { ...info, forward: stats(ms), browserCpuSeconds: cpuDelta(cpu0, browserCpu()), loadBefore,
                          loadAfter: load() };
    log(`compute worker alone, ${name}: forward median ${stats(ms).median.toFixed(0)} ms`);
    await page.close();
  }
}

async function peersPart(browser, servers) {
  if (!fs.existsSync(path.join(ROOT, 'bench/node_modules/onnxruntime-web')))
    throw new Error('no bench/node_modules: (cd bench && npm ci)');
  const rgb = Array.from(fs.readFileSync(INPUT));
  const rel = (f) => servers.root.url + path.relative(ROOT, f);
  const urls = { onnx: rel(models.files.onnx), tfjs: rel(models.files.tfjs), tfjs_manifest: rel(models.files.tfjs_manifest) };
  for (const peer of ['tfjs', 'ort'])
    for (const threads of [1, 2]) {
      const page = await browser.context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      const loadBefore = load();
      // TF.js' wasm backend caps its pool at half the logical cores (navigator.hardwareConcurrency
      // / 2): on a 2-core machine it would run 1 thread when asked for 2. It is told of twice the
      // threads asked for, so that it runs those (JSON: threads, the count it reports back).
      let hardwareConcurrency = null;
      if (peer === 'tfjs' && threads > 1) {
        hardwareConcurrency = 2 * threads;
        const cdp = await browser.context.newCDPSession(page);
        await cdp.send('Emulation.setHardwareConcurrencyOverride', { hardwareConcurrency });
      }
      await page.goto(servers.root.url + 'bench/peers.html');
      const info = await page.evaluate((a) => window.peers.setup(a), { peer, threads, models: urls });
      const t = await page.evaluate((a) => window.peers.time(a), { reps: REPS, rgb });
      result.peers[`${peer}${threads}`] = { ...info, threadsAsked: threads, hardwareConcurrency, warmup: t.warmup, forward: stats(t.ms), top5: t.top5,
                                            loadBefore, loadAfter: load(), consoleErrors: errors.slice(0, 5) };
      log(`${peer} ${info.version}, ${info.threads} thread(s): forward median ${stats(t.ms).median.toFixed(0)} ms`);
      await page.close();
    }
}

// ---------------------------------------------------------------- the command line: native, node, PyTorch
function cliPart() {
  const tmp = path.join(ROOT, 'build/bench');
  const cnnlens = (name, cmd, threads) => {
    const json = path.join(tmp, `cli-${name}.json`);
    const loadBefore = load();
    log(`cnnlens bench, ${name}, threads ${threads}`);
    execFileSync(cmd[0], [...cmd.slice(1), 'bench', '--weights', weights, '--threads', threads, '--reps', String(REPS),
                          '--json', json], { stdio: ['ignore', 'inherit', 'inherit'] });
    const j = JSON.parse(fs.readFileSync(json, 'utf8'));
    const out = { loadBefore, loadAfter: load(), rss: j.rss, threads: {} };
    for (const [n, modes] of Object.entries(j.threads))
      out.threads[n] = Object.fromEntries(Object.entries(modes).map(([k, v]) => [k, stats(v)]));
    return out;
  };
  const torch = () => {
    const loadBefore = load();
    log('PyTorch (Debian), threads 1,2');
    const args = [path.join(ROOT, 'bench/torch_vgg16.py'), 'time', '--weights', weights, '--threads', '1,2',
                  '--reps', String(REPS), ...(fs.existsSync(INPUT) ? ['--input', INPUT] : [])];
    const j = JSON.parse(execFileSync(PY, args, { encoding: 'utf8' }));
    for (const [n, v] of Object.entries(j.forward)) j.forward[n] = { ...stats(v.ms), threadsInEffect: v.threads_in_effect };
    return { ...j, loadBefore, loadAfter: load() };
  };
  // native and PyTorch back to back (their ratio is a claim), then wasm under node
  const step = (name, f) => {
    try {
      result.cli[name] = f();
    } catch (e) {
      result.errors.push(`cli ${name}: ${e.message}`);
      log(`FAILED: ${name}: ${e.message}`);
    }
  };
  step('native', () => cnnlens('native', [path.join(ROOT, 'build/native/cnnlens')], '1,2'));
  step('torch', torch);
  step('nodeSingle', () => cnnlens('node-single', [...NODE, path.join(ROOT, 'build/wasm/cnnlens.js')], '1'));
  step('nodeThreaded', () => cnnlens('node-threaded', [...NODE, path.join(ROOT, 'build/wasm-mt/cnnlens.js')], '1,2'));
}

if (ONLY.some((p) => ['page', 'bare', 'peers'].includes(p))) await part('browser', browserPart);
if (ONLY.includes('cli')) cliPart();
result.machine.loadAfter = load();
result.finished = new Date().toISOString();

// ---------------------------------------------------------------- ratios (of medians, all from this run)
const med = (o) => (o && o.median != null ? o.median : null);
const ratio = (a, b) => (a != null && b != null && b > 0 ? +(a / b).toFixed(3) : null);
const P = result.page, R = result.peers, C = result.cli;
const faster = (a, b) => {   // the faster peer, of those that ran the threads asked for: [name, median]
  const c = [a, b].filter((k) => R[k] && R[k].threads === R[k].threadsAsked).map((k) => [k, med(R[k].forward)]);
  return c.length ? c.sort((x, y) => x[1] - y[1])[0] : [null, null];
};
const [peer1, peer1ms] = faster('tfjs1', 'ort1'), [peer2, peer2ms] = faster('tfjs2', 'ort2');
const rows = [];   // [claim, measured, target, ok]
const claim = (name, value, target, ok, key) => {
  result.ratios[key] = { claim: name, value, target, met: value == null || target === '(info)' ? null : ok(value) };
  rows.push([name, value, target, value == null ? '-' : target === '(info)' ? '' : ok(value) ? 'met' : 'not met']);
};
claim(`page single-thread build forward / faster peer 1 thread (${peer1})`, ratio(med(P.single && P.single.forward), peer1ms),
      '<= 0.75', (v) => v <= 0.75, 'singleVsPeer1');
claim(`page threaded build 2 threads forward / faster peer 2 threads (${peer2})`,
      ratio(med(P.threaded2 && P.threaded2.forward), peer2ms), '<= 0.75', (v) => v <= 0.75, 'threaded2VsPeer2');
claim('speed-up, threaded build 2 threads vs single-thread build', ratio(med(P.single && P.single.forward),
      med(P.threaded2 && P.threaded2.forward)), '>= 1.7', (v) => v >= 1.7, 'threaded2VsSingle');
claim('speed-up, threaded build 2 threads vs 1 thread', ratio(med(P.threaded1 && P.threaded1.forward),
      med(P.threaded2 && P.threaded2.forward)), '>= 1.7', (v) => v >= 1.7, 'threaded2VsThreaded1');
for (const b of ['single', 'threaded2']) {
  claim(`page ${b}: forward + Grad-CAM at all conv layers / its forward (per click)`,
        P[b] && P[b].gradcamAllPerClick ? +P[b].gradcamAllPerClick.median.toFixed(3) : null, '<= 2.0', (v) => v <= 2.0,
        `gradcamAll_${b}`);
  claim(`page ${b}: the same / the forward-only runs' forward`, ratio(med(P[b] && P[b].forwardGradcamAll),
        med(P[b] && P[b].forward)), '(info)', () => true, `gradcamAllSeries_${b}`);
}
claim('native 1 thread forward / PyTorch 1 thread', ratio(med(C.native && C.native.threads['1'].forward),
      med(C.torch && C.torch.forward['1'])), '<= 0.6', (v) => v <= 0.6, 'nativeVsTorch1');
claim('native 2 threads forward / PyTorch 2 threads', ratio(med(C.native && C.native.threads['2'].forward),
      med(C.torch && C.torch.forward['2'])), '(info)', () => true, 'nativeVsTorch2');
for (const b of ['single', 'threaded2'])
  claim(`built-in model: page open to first prediction, ${b} (ms, median)`,
        P[b] && P[b].builtinFirstPrediction ? +P[b].builtinFirstPrediction.median.toFixed(0) : null, '<= 300',
        (v) => v <= 300, `builtinFirst_${b}`);
for (const b of ['single', 'threaded2'])
  claim(`wasm memory with VGG16 loaded, ${b} (MiB)`, P[b] && P[b].wasmMemoryMiB != null ? +P[b].wasmMemoryMiB.toFixed(0) : null,
        '(info)', () => true, `memory_${b}`);
for (const b of ['single', 'threaded2'])
  claim(`wasm memory with the int8-fc VGG16 after a backward pass, ${b} (MiB)`,
        P[b] && P[b].int8 ? +P[b].int8.wasmMemoryMiB.toFixed(0) : null, '<= 400', (v) => v <= 400, `memoryInt8_${b}`);
for (const b of ['single', 'threaded2'])   // the moonshot: where it stands
  claim(`webcam 224 px with Grad-CAM at the last conv, ${b} (frames per second)`,
        P[b] && P[b].webcam && P[b].webcam.fps != null ? +P[b].webcam.fps.toFixed(2) : null, '(info)', () => true,
        `webcam_${b}`);
// item 2 of the issue: where the page loses to node (the same wasm build, the same core timer)
claim('page single-thread forward / node single-thread build forward', ratio(med(P.single && P.single.forward),
      med(C.nodeSingle && C.nodeSingle.threads['1'].forward)), '(info)', () => true, 'pageVsNodeSingle');
claim('page threaded 2 threads forward / node threaded build 2 threads', ratio(med(P.threaded2 && P.threaded2.forward),
      med(C.nodeThreaded && C.nodeThreaded.threads['2'].forward)), '(info)', () => true, 'pageVsNodeThreaded2');

const B = result.bare || {};
claim('page single-thread forward / the same worker without the page', ratio(med(P.single && P.single.forward),
      med(B.single && B.single.forward)), '(info)', () => true, 'pageVsBareSingle');
claim('page threaded 2 threads forward / the same worker without the page', ratio(med(P.threaded2 && P.threaded2.forward),
      med(B.threaded2 && B.threaded2.forward)), '(info)', () => true, 'pageVsBareThreaded2');
claim('speed-up of the worker without the page, threaded build 2 threads vs 1', ratio(med(B.threaded1 && B.threaded1.forward),
      med(B.threaded2 && B.threaded2.forward)), '(info)', () => true, 'bareThreaded2VsThreaded1');
claim('worker without the page, single-thread / node single-thread build', ratio(med(B.single && B.single.forward),
      med(C.nodeSingle && C.nodeSingle.threads['1'].forward)), '(info)', () => true, 'bareVsNodeSingle');
claim('worker without the page, threaded 2 / node threaded build 2 threads', ratio(med(B.threaded2 && B.threaded2.forward),
      med(C.nodeThreaded && C.nodeThreaded.threads['2'].forward)), '(info)', () => true, 'bareVsNodeThreaded2');

// sanity: the peers' top-5 against the page's (the same weights and input)
const ref = P.single && P.single.top5;
const top5Of = { torch: C.torch && C.torch.top5, ...Object.fromEntries(Object.entries(R).map(([k, v]) => [k, v.top5])) };
for (const [k, t] of Object.entries(top5Of)) {
  if (!ref || !t) continue;
  const relErr = Math.max(...t.map((p) => {
    const o = ref.find((q) => q.index === p.index);
    return o ? Math.abs(o.logit - p.logit) / Math.max(1e-6, Math.abs(o.logit)) : Infinity;
  }));
  result.sanity[k] = { sameTop1: t[0].index === ref[0].index, sameTop5: t.every((p, i) => p.index === ref[i].index),
                       maxRelLogitDiffTop5: +relErr.toPrecision(3) };
}

fs.writeFileSync(OUT, JSON.stringify(result, null, 1) + '\n');

// ---------------------------------------------------------------- the table
const f = (o) => (o && o.median != null ? `${o.median.toFixed(0)} (${o.min.toFixed(0)}-${o.max.toFixed(0)}, n=${o.n})` : '-');
const lines = ['', `VGG16 224x224 forward, ms: median (min-max, n). ${result.machine.nproc} cores, ${result.machine.cpu}; ` +
               `load average before ${result.machine.loadBefore.join(' ')}, after ${result.machine.loadAfter.join(' ')}`];
const tline = (name, o, extra = '') => lines.push(`  ${name.padEnd(46)} ${f(o).padEnd(28)} ${extra}`);
for (const b of BUILDS) {
  const r = P[b.name];
  if (!r || !r.forward) continue;
  const cpu = (c) => (c && Object.keys(c).length ? '; CPU s ' + Object.entries(c).map(([k, v]) => `${k} ${v}`).join(', ') : '');
  tline(`page ${b.name} forward`, r.forward, `load ${r.loadBefore[0]}-${r.loadAfter[0]}${cpu(r.forwardBrowserCpuSeconds)}`);
  tline(`page ${b.name} forward + Grad-CAM at ${r.filmstripLayers} layers`, r.forwardGradcamAll,
        `UI ${r.forwardParts.fps.median.toFixed(1)} fps during forward runs`);
  if (r.webcam && r.webcam.fps != null)
    lines.push(`  page ${b.name} webcam + Grad-CAM at the last conv: ${r.webcam.fps.toFixed(2)} frames/s ` +
               `(${r.webcam.results} in ${(r.webcam.ms / 1000).toFixed(1)} s; UI ${r.webcam.uiFps.toFixed(1)} fps)`);
  if (r.int8) tline(`page ${b.name} forward, int8-fc pack (lean convs)`, r.int8.forward, `wasm memory ${r.int8.wasmMemoryMiB.toFixed(0)} MiB`);
}
for (const [k, v] of Object.entries(B)) tline(`compute worker without the page, ${k}`, v.forward,
                                             `load ${v.loadBefore[0]}-${v.loadAfter[0]}` +
                                             (v.browserCpuSeconds ? '; CPU s ' + Object.entries(v.browserCpuSeconds)
                                               .map(([t, x]) => `${t} ${x}`).join(', ') : ''));
for (const [k, v] of Object.entries(R)) tline(`${k === 'ort1' || k === 'ort2' ? 'onnxruntime-web' : 'TF.js wasm'} ${v.version} ${v.threads} thread(s)`,
                                             v.forward, `load ${v.loadBefore[0]}-${v.loadAfter[0]}`);
if (C.native) for (const n of Object.keys(C.native.threads)) tline(`native ${n} thread(s)`, C.native.threads[n].forward,
                                                                    `load ${C.native.loadBefore[0]}-${C.native.loadAfter[0]}`);
if (C.torch) for (const n of Object.keys(C.torch.forward)) tline(`PyTorch ${C.torch.torch} ${n} thread(s)`, C.torch.forward[n],
                                                                  `load ${C.torch.loadBefore[0]}-${C.torch.loadAfter[0]}`);
if (C.nodeSingle) tline('node, single-thread build, 1 thread', C.nodeSingle.threads['1'].forward);
if (C.nodeThreaded) for (const n of Object.keys(C.nodeThreaded.threads))
  tline(`node, threaded build, ${n} thread(s)`, C.nodeThreaded.threads[n].forward);
if (C.nodeSingle) tline('node, single: forward + Grad-CAM at all conv', C.nodeSingle.threads['1'].forward_gradcam_all);
lines.push('', 'claims (ratios of medians, this run):');
for (const [name, v, target, ok] of rows) lines.push(`  ${name.padEnd(78)} ${String(v ?? '-').padStart(8)}  target ${target.padEnd(8)} ${ok}`);
lines.push('', 'sanity (peers vs the page, same weights and input): ' +
           Object.entries(result.sanity).map(([k, s]) => `${k} top-1 ${s.sameTop1 ? 'same' : 'DIFFERENT'}, ` +
                                             `top-5 logits rel. diff ${s.maxRelLogitDiffTop5}`).join('; '));
if (result.errors.length) lines.push('', 'FAILED parts: ' + result.errors.join('; '));
lines.push('', 'JSON: ' + path.relative(process.cwd(), OUT));
console.log(lines.join('\n'));
