// startup.mjs: page open to first prediction with the built-in model, step by step (issue 13,
// item 5). A benchmark, not a test: it prints numbers and asserts nothing.
//
//   node bench/startup.mjs [--loads N] [--builds single,threaded] [--sites DIR[,DIR2...]] [--json FILE]
//
// build/site (./build.sh web first) is served from 127.0.0.1 by scripts/serve.py, once without
// cross-origin isolation (the single-thread build) and once with it (the threaded build), to
// Debian's headless Chromium (tests/e2e/helpers.mjs). Per build, one load warms the caches (HTTP
// cache, the code cache of the wasm modules, Cache Storage for the weights); then N more loads
// (default 9), each a new tab of the same browser, are measured. Every load reads
// window.cnnlens.timings(): pageToFirstPrediction (performance.now() when the first result reaches
// the page) and marks, each mark ms since navigation to the first time the start path reached it
// (index.html, web/app.js, web/worker.js, src/app/main.cpp; the worker's converted to the page's
// clock). Printed: the median (and min/max) of each mark, in time order. --sites: other builds of
// the site (e.g. a copy of build/site from before a change), loaded in turn with build/site so
// that each sees the same machine load: before/after in one run.
import fs from 'node:fs';
import path from 'node:path';
import { SITE, launch, startServer } from '../tests/e2e/helpers.mjs';

const argv = process.argv.slice(2);
const opt = (name, def) => {
  const i = argv.indexOf('--' + name);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : def;
};
const LOADS = +opt('loads', 9);
const BUILDS = opt('builds', 'single,threaded').split(',');
const JSON_OUT = opt('json', '');

// What each mark means (where it is taken), for the table.
const MEANING = {
  html: 'index.html: first script runs',
  appjs: 'app.js starts',
  workerCreated: 'compute worker created',
  workerStart: 'worker.js starts (worker)',
  computeScript: 'compute module JS loaded (worker)',
  computeInstantiated: 'compute wasm compiled + instantiated (worker)',
  computeReady: 'page hears the worker is ready',
  weightsSent: 'built-in model requested',
  weightsRead: 'model file in wasm memory (worker)',
  modelBuilt: 'model parsed + network built, XNNPACK init (worker)',
  model: 'page has the model',
  imageSent: 'first image requested',
  imageFetched: 'image bytes fetched (worker)',
  imageDecoded: 'image decoded (worker)',
  forward: 'first forward done (worker)',
  result: 'first result at the page (= pageToFirstPrediction)',
  explained: 'Grad-CAM + maps sent (worker)',
  uiScript: 'cnnlens_ui.js loaded',
  uiInstantiated: 'UI wasm compiled + instantiated',
  webgl: 'WebGL2 context created',
  shaders: 'ImGui + map shaders set up',
  uiReady: 'UI ready (main loop starts)',
  fonts: 'font atlas built (first frame)',
  firstFrame: 'first frame drawn',
  resultShown: 'first frame showing the result',
};

const median = (a) => {
  const s = [...a].sort((x, y) => x - y), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

async function measure(browser, url) {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1280, height: 800 });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  // a site from before the marks (6996bde and older) gives pageToFirstPrediction only
  await page.waitForFunction(() => window.cnnlens && window.cnnlens.top5().length > 0 &&
                             (!window.cnnlensMarks || 'resultShown' in window.cnnlensMarks), null, { timeout: 60000 });
  const t = await page.evaluate(() => ({ ...window.cnnlens.timings(), threaded: window.cnnlens.threaded }));
  t.marks = t.marks || {};
  await page.close();
  if (errors.length) throw new Error(errors.join('; '));
  return t;
}

const SITES = opt('sites', SITE).split(',').map((d) => path.resolve(d));
for (const d of SITES) if (!fs.existsSync(path.join(d, 'index.html'))) throw new Error(`no ${d}/index.html: ./build.sh web first`);
const out = { loads: LOADS, sites: SITES, builds: {} };
const browser = await launch();
try {
  for (const b of BUILDS) {
    const coi = b === 'threaded';
    const servers = [];
    try {
      for (const root of SITES) servers.push(await startServer({ coi, root }));
      for (const s of servers) await measure(browser, s.url);   // warms the caches
      const runs = SITES.map(() => []);
      for (let i = 0; i < LOADS; i++)   // the sites in turn: the same machine load for each
        for (let k = 0; k < SITES.length; k++) runs[k].push(await measure(browser, servers[k].url));
      const per = runs.map((rs) => {
        const names = new Set(rs.flatMap((r) => Object.keys(r.marks)));
        const marks = Object.fromEntries([...names].map((n) => {
          const v = rs.map((r) => r.marks[n]).filter((x) => x != null);
          return [n, { median: median(v), min: Math.min(...v), max: Math.max(...v), n: v.length }];
        }));
        const first = rs.map((r) => r.pageToFirstPrediction);
        return { threaded: rs[0].threaded, pageToFirstPrediction: { median: median(first), runs: first }, marks };
      });
      out.builds[b] = SITES.map((d, k) => ({ site: d, ...per[k] }));
      const at = (n) => [...per].reverse().find((p) => p.marks[n]).marks[n].median;   // the last site's order
      const names = [...new Set(per.flatMap((p) => Object.keys(p.marks)))].sort((x, y) => at(x) - at(y));
      console.log(`\n== ${b} build (${per[0].threaded ? 'threaded' : 'single-thread'} compute module, ` +
                  `${coi ? '' : 'not '}cross-origin isolated), ${LOADS} warm loads per site, median [min-max] ms since navigation`);
      if (SITES.length > 1) console.log(SITES.map((d, k) => `  site ${k + 1}: ${path.relative(process.cwd(), d) || '.'}`).join('\n'));
      console.log('mark                ' + SITES.map((d, k) => `site ${k + 1}`.padStart(18)).join('') + '  what');
      for (const n of names) {
        const cells = per.map((p) => {
          const m = p.marks[n];
          return (m ? `${m.median.toFixed(0)} [${m.min.toFixed(0)}-${m.max.toFixed(0)}]` : '-').padStart(18);
        });
        console.log(`${n.padEnd(20)}${cells.join('')}  ${MEANING[n] || ''}`);
      }
      console.log('pageToFirstPrediction' + per.map((p) => p.pageToFirstPrediction.median.toFixed(1).padStart(17)).join('') +
                  '  median; runs: ' + per.map((p) => p.pageToFirstPrediction.runs.map((v) => v.toFixed(0)).join(' ')).join(' | '));
    } finally {
      for (const s of servers) s.stop();
    }
  }
} finally {
  await browser.close();
}
if (JSON_OUT) fs.writeFileSync(JSON_OUT, JSON.stringify(out, null, 1));
