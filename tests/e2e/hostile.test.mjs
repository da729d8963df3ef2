// hostile.test.mjs: hostile files, links and strings leave the page usable (headless Chromium).
//
// A weight file whose first conv has 0 channels, a link to an image whose header claims
// 100000x100000 pixels, megabyte-long strings from JS into the UI module, and a link that never
// finishes downloading (the watchdog replaces the compute worker): each ends in a clear message,
// the previous model and image stay, and the page predicts on the next image.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, SITE, dropFile, launch, openApp, shot, startServer } from './helpers.mjs';

const DATA = path.join(SITE, 'e2e-hostile');   // fixtures served next to the page
const SAMPLE = 'samples/fashion-mnist/9-Ankle-boot-test00000.png';
const consoleErrors = (errors) => errors.filter((e) => !/favicon|Failed to load resource/.test(e));

// A safetensors file whose tensors are all zero-sized: the first conv has 0 output channels.
function zeroChannelSafetensors() {
  const header = JSON.stringify({
    'features.0.weight': { dtype: 'F32', shape: [0, 3, 3, 3], data_offsets: [0, 0] },
    'classifier.0.weight': { dtype: 'F32', shape: [10, 0], data_offsets: [0, 0] },
  });
  const b = Buffer.alloc(8 + header.length);
  b.writeBigUInt64LE(BigInt(header.length), 0);
  b.write(header, 8, 'latin1');
  return b;
}

// A PNG whose header says 100000 x 100000 pixels (10 gigapixels), followed by nothing.
function hugePng() {
  const b = Buffer.from('89504e470d0a1a0a0000000d49484452000186a0000186a00802000000000000000000', 'hex');
  return b;
}

describe('hostile input', { timeout: 300000 }, () => {
  let server, browser, stall, stalled = 0;
  before(async () => {
    fs.mkdirSync(DATA, { recursive: true });
    fs.writeFileSync(path.join(DATA, 'huge.png'), hugePng());
    server = await startServer({ coi: true });
    browser = await launch();
    // A server (another origin, CORS and CORP allowed) that sends headers and then never the body.
    stall = http.createServer((req, res) => {
      stalled++;
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': '100000',
                           'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin' });
      res.write(Buffer.alloc(10));
    });
    await new Promise((r) => stall.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) server.stop();
    if (stall) stall.closeAllConnections(), stall.close();
    fs.rmSync(DATA, { recursive: true, force: true });
  });

  test('a hostile weight file and a huge-image link: clear errors, and the page still predicts', async () => {
    const { page, errors } = await openApp(browser.context, server.url + '?image=e2e-hostile/huge.png');
    let err = await page.evaluate(() => window.cnnlens.lastError());
    assert.equal(err.where, 'image');
    assert.match(err.text, /image is 100000x100000 pixels \(10000\.0 MP\); the limit is 50 MP/);
    const model = await page.evaluate(() => window.cnnlens.model().name);

    const bad = path.join(os.tmpdir(), 'cnnlens-e2e-zero.safetensors');
    fs.writeFileSync(bad, zeroChannelSafetensors());
    try {
      await dropFile(page, bad, 'application/octet-stream', 'zero.safetensors');
    } finally {
      fs.rmSync(bad, { force: true });
    }
    err = await page.evaluate(() => window.cnnlens.lastError());
    assert.equal(err.where, 'weights');
    assert.match(err.text, /Could not load the weights "zero.safetensors": .*features\.0\.weight.*zero-sized/);
    assert.equal(await page.evaluate(() => window.cnnlens.model().name), model, 'the previous model stays');
    await shot(page, 'wide_hostile_errors');

    const top = await page.evaluate((u) => window.cnnlens.loadImage(u), SAMPLE);
    assert.equal(top.length, 5);
    assert.equal(top[0].name, 'Ankle boot');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('megabyte strings into the UI module (class search, image names) do not break it', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    const long = 'x'.repeat(6 << 20);   // more than the UI module's 5 MB stack
    const rejected = await page.evaluate((s) => window.cnnlens.setClass(s).then(() => 'accepted', (e) => e.message), long);
    assert.match(rejected, /unknown class/);
    // a 6 MB file name reaches the UI with the image
    const b64 = fs.readFileSync(path.join(SITE, SAMPLE)).toString('base64');
    await page.evaluate(async ({ b64, n }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], 'y'.repeat(n) + '.png', { type: 'image/png' }));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      await new Promise((r) => setTimeout(r, 50));
      await window.cnnlens.ready();
    }, { b64, n: 6 << 20 });
    assert.equal((await page.evaluate(() => window.cnnlens.imageName())).length, (6 << 20) + 4);
    const f0 = await page.evaluate(() => window.cnnlens.frames());
    await page.evaluate(() => window.cnnlens.setClass('Sneaker'));
    await page.waitForFunction((f) => { window.cnnlens.redraw(); return window.cnnlens.frames() > f + 3; }, f0);
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap())).cls, 7, 'the UI still answers');
    const top = await page.evaluate((u) => window.cnnlens.loadImage(u), SAMPLE);
    assert.equal(top[0].name, 'Ankle boot');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('a link that never finishes: the worker is replaced, the previous model and image come back', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    const before = await page.evaluate(() => window.cnnlens.top5());
    const stats = await page.evaluate(() => window.cnnlens.stats());
    assert.equal(stats.workers, 1);
    const url = `http://127.0.0.1:${stall.address().port}/never.png`;
    await page.evaluate(() => window.cnnlens.setWatchdog(3000));
    const t0 = Date.now();
    await page.evaluate((u) => window.cnnlens.loadImage(u), url);
    const err = await page.evaluate(() => window.cnnlens.lastError());
    assert.ok(stalled >= 1, 'the stalling server was asked');
    assert.equal(err.where, 'worker');
    assert.match(err.text, /did not finish within 3 s and was stopped\. The previous model and image are back\./);
    assert.ok(Date.now() - t0 < 20000);
    await page.evaluate(() => window.cnnlens.ready());
    assert.deepEqual(await page.evaluate(() => window.cnnlens.top5()), before, 'the same model and image again');
    const now = await page.evaluate(() => window.cnnlens.stats());
    assert.equal(now.workers, 2);
    assert.equal(now.results, stats.results + 1, 'computed again by the new worker');
    await shot(page, 'wide_watchdog_restart');
    await page.evaluate(() => window.cnnlens.setWatchdog(30000));
    const top = await page.evaluate((u) => window.cnnlens.loadImage(u), SAMPLE);
    assert.equal(top[0].name, 'Ankle boot');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });
});
