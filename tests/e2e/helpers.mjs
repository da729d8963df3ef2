// helpers.mjs: what the end-to-end tests share: a local server for build/site (scripts/serve.py,
// with or without cross-origin isolation), Debian's headless chromium through playwright-core,
// a page that records console errors, real drop events, screenshots into build/e2e-artifacts/.
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const SITE = path.join(ROOT, 'build/site');
export const ARTIFACTS = path.join(ROOT, 'build/e2e-artifacts');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
fs.mkdirSync(ARTIFACTS, { recursive: true });

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

// Serves build/site, or another folder (root: the benchmark's peers page serves the repository).
export async function startServer({ coi = true, root = SITE } = {}) {
  const port = await freePort();
  const py = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const args = [path.join(ROOT, 'scripts/serve.py'), root, String(port), '-q'];
  if (!coi) args.push('--no-coi');
  const proc = spawn(py, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    proc.stdout.once('data', resolve);
    proc.once('exit', (code) => reject(new Error('serve.py exited with ' + code)));
  });
  return { url: `http://127.0.0.1:${port}/`, stop: () => proc.kill() };
}

export async function launch({ hasTouch = false, deviceScaleFactor = 1 } = {}) {
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-e2e-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run',
           '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'],   // a test-pattern webcam
    viewport: { width: 1280, height: 800 },
    hasTouch,   // a touch screen (page.touchscreen.tap)
    deviceScaleFactor,   // devicePixelRatio (2: a high-DPI laptop; 1.5 with a 2/3 viewport: 150% browser zoom)
  });
  return {
    context,
    userDataDir,   // names this browser's processes (--user-data-dir=...): the benchmark reads their CPU time
    async close() {
      await context.close();
      fs.rmSync(userDataDir, { recursive: true, force: true });
    },
  };
}

// Opens the page and waits for the start-up model; console errors and page errors are collected.
export async function openApp(context, url, { width = 1280, height = 800 } = {}) {
  const page = await context.newPage();
  await page.setViewportSize({ width, height });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url);
  await page.waitForFunction(() => window.cnnlens && window.cnnlens.model(), null, { timeout: 60000 });
  await page.evaluate(() => window.cnnlens.ready());
  return { page, errors };
}

// A real drop event on the page: a File built in the page from the bytes of a local file.
export async function dropFile(page, file, type = 'application/octet-stream', name = path.basename(file)) {
  const b64 = fs.readFileSync(file).toString('base64');
  await page.evaluate(async ({ b64, name, type }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type }));
    const target = document.elementFromPoint(innerWidth / 2, innerHeight / 2) || document.body;
    target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
    await new Promise((r) => setTimeout(r, 50));
    await window.cnnlens.ready();
  }, { b64, name, type });
}

// Waits for a few more frames (the UI shows the state), then saves a screenshot.
export async function shot(page, name) {
  const f0 = await page.evaluate(() => { window.cnnlens.redraw(); return window.cnnlens.frames(); });
  await page.waitForFunction((f) => { window.cnnlens.redraw(); return window.cnnlens.frames() > f + 3; }, f0,
                             { timeout: 20000 });
  const file = path.join(ARTIFACTS, name + '.png');
  await page.screenshot({ path: file });
  return file;
}

// Runs the native CLI (build/native/cnnlens) and returns its stdout.
export function cli(...args) {
  return execFileSync(path.join(ROOT, 'build/native/cnnlens'), args, { encoding: 'utf8' });
}

// Parses `cnnlens predict` output lines: "  idx  prob%  logit L  name".
export function parsePredict(text) {
  return text.trim().split('\n').map((line) => {
    const m = line.trim().match(/^(\d+)\s+([\d.]+)%\s+logit\s+(-?[\d.]+)\s+(.*)$/);
    return m && { index: +m[1], prob: +m[2] / 100, logit: +m[3], name: m[4] };
  }).filter(Boolean);
}

// Reads a float32 .npy (little-endian, C order) into {shape, data}.
export function readNpy(file) {
  const buf = fs.readFileSync(file);
  const hlen = buf.readUInt16LE(8);
  const header = buf.subarray(10, 10 + hlen).toString('latin1');
  if (!/'descr': '<f4'/.test(header)) throw new Error('not float32: ' + header);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const off = 10 + hlen;
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + off, buf.byteOffset + buf.length));
  return { shape, data };
}
