// app.test.mjs: the web app end to end in headless Chromium (build/site, served locally).
//
//   node --test tests/e2e/            (./build.sh test runs it after the unit tests)
//
// The page's numbers are checked against the native CLI (build/native/cnnlens) on the same
// weights and image: the committed oracle fixtures of tests/data/oracle (tiny VGG-style networks,
// gap and fc heads) stand in for ImageNet weights. Screenshots go to build/e2e-artifacts/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, SITE, cli, dropFile, launch, openApp, parsePredict, readNpy, shot, startServer } from './helpers.mjs';

const ORACLE = path.join(ROOT, 'tests/data/oracle');
const DATA = path.join(SITE, 'e2e-data');   // fixtures served next to the page for URL loading

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
// The only console error allowed: none.
const consoleErrors = (errors) => errors.filter((e) => !/favicon/.test(e));

describe('CNN Lens web app', { timeout: 300000 }, () => {
  let server, browser;
  before(async () => {
    assert.ok(fs.existsSync(path.join(SITE, 'index.html')), 'build/site is missing: run ./build.sh web');
    fs.mkdirSync(DATA, { recursive: true });
    fs.copyFileSync(path.join(ORACLE, 'tiny_fc/w_timm.safetensors'), path.join(DATA, 'tiny_fc_timm.safetensors'));
    server = await startServer({ coi: true });
    browser = await launch();
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) server.stop();
    fs.rmSync(DATA, { recursive: true, force: true });
  });

  test('drop an image: top-1 and Grad-CAM equal the native CLI', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    await shot(page, 'wide_start');
    const image = path.join(ORACLE, 'tiny_gap/input.png');
    const weights = path.join(ORACLE, 'tiny_gap/w.safetensors');   // what the site serves as its built-in model
    assert.deepEqual(fs.readFileSync(weights), fs.readFileSync(path.join(SITE, 'models/builtin.safetensors')));
    await dropFile(page, image, 'image/png');
    const top5 = await page.evaluate(() => window.cnnlens.top5());
    const native = parsePredict(cli('predict', '--weights', weights, '--image', image));
    assert.equal(top5.length, 5);
    assert.equal(top5[0].index, native[0].index, 'top-1 class');
    for (let i = 0; i < 5; i++) {
      assert.equal(top5[i].index, native[i].index);
      assert.ok(Math.abs(top5[i].prob - native[i].prob) < 1e-4, `prob ${top5[i].prob} vs ${native[i].prob}`);
    }

    // Grad-CAM at the last conv layer for class 3 (not the top-1), read back as numbers
    const model = await page.evaluate(() => window.cnnlens.model());
    if (model.explain) {
      await page.evaluate(() => window.cnnlens.setClass(3));
      const heat = await page.evaluate(() => window.cnnlens.heatmap());
      assert.equal(heat.layer, 'block3_conv2');
      assert.equal(heat.cls, 3);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-e2e-npy-'));
      try {
        cli('explain', '--weights', weights, '--image', image, '--class', '3', '--layer', 'block3_conv2', '--dump-npy', dir);
        const ref = readNpy(path.join(dir, 'gradcam_block3_conv2_c3.npy'));
        assert.deepEqual(ref.shape, [heat.h, heat.w]);
        const d = maxAbsDiff(heat.data, ref.data);
        assert.ok(d <= 1e-5 * Math.max(1, maxAbs(ref.data)), `Grad-CAM differs from the CLI by ${d}`);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      await page.evaluate(() => window.cnnlens.selectTab('Where it looks'));
      await shot(page, 'wide_where_it_looks');
    }
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('load weights by URL from the local server, then an image', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    const name = await page.evaluate(() => window.cnnlens.loadWeights('e2e-data/tiny_fc_timm.safetensors'));
    assert.equal(name, 'tiny_fc_timm.safetensors');
    const model = await page.evaluate(() => window.cnnlens.model());
    assert.equal(model.layout, 'timm');
    assert.equal(model.head, 'fc');
    // kept in Cache Storage for the next (offline) visit
    assert.ok(await page.evaluate(async () => !!(await (await caches.open('cnnlens-weights-v1'))
      .match(new URL('e2e-data/tiny_fc_timm.safetensors', location.href).href))));
    const image = path.join(ORACLE, 'tiny_fc/input.png');
    await dropFile(page, image, 'image/png');
    const top5 = await page.evaluate(() => window.cnnlens.top5());
    const native = parsePredict(cli('predict', '--weights', path.join(ORACLE, 'tiny_fc/w_timm.safetensors'), '--image', image));
    assert.equal(top5[0].index, native[0].index);
    assert.ok(Math.abs(top5[0].logit - native[0].logit) < 1e-4);
    // the feature maps of a chosen layer cross to the page as numbers: equal to the CLI's dump
    await page.evaluate(() => window.cnnlens.setLayer('block2_conv1'));
    const act = await page.evaluate(() => {
      const a = window.cnnlens.activations();
      return { layer: a.layer, h: a.h, w: a.w, c: a.c, data: Array.from(a.data) };
    });
    assert.equal(act.layer, 'block2_conv1');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-e2e-npy-'));
    try {
      cli('dump', '--weights', path.join(ORACLE, 'tiny_fc/w_timm.safetensors'), '--image', image, '--npy', dir);
      const ref = readNpy(path.join(dir, 'act_block2_conv1.npy'));
      assert.deepEqual(ref.shape, [act.h, act.w, act.c]);
      assert.ok(maxAbsDiff(act.data, ref.data) <= 1e-5 * Math.max(1, maxAbs(ref.data)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await shot(page, 'wide_feature_maps_tiny_fc');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('a corrupt weights file gives a friendly error and the app keeps working', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    const before = await page.evaluate(() => window.cnnlens.model().name);
    const bad = path.join(os.tmpdir(), 'cnnlens-e2e-corrupt.safetensors');
    fs.writeFileSync(bad, fs.readFileSync(path.join(ORACLE, 'tiny_gap/w.safetensors')).subarray(0, 3000));
    try {
      await dropFile(page, bad, 'application/octet-stream', 'corrupt.safetensors');
    } finally {
      fs.rmSync(bad, { force: true });
    }
    const err = await page.evaluate(() => window.cnnlens.lastError());
    assert.equal(err.where, 'weights');
    assert.match(err.text, /Could not load the weights "corrupt.safetensors"/);
    assert.equal(await page.evaluate(() => window.cnnlens.model().name), before, 'the previous model stays');
    await shot(page, 'wide_corrupt_weights_error');
    // not an image either
    await dropFile(page, path.join(ROOT, 'README.md'), 'image/png', 'not-an-image.png');
    assert.equal((await page.evaluate(() => window.cnnlens.lastError())).where, 'image');
    // and it still works
    await dropFile(page, path.join(ROOT, 'assets/samples/coffee.jpg'), 'image/jpeg');
    assert.equal((await page.evaluate(() => window.cnnlens.top5())).length, 5);
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('threaded build when cross-origin isolated, single-threaded otherwise: same results', async () => {
    const image = path.join(ORACLE, 'tiny_gap/input.png');
    const results = {};
    const plain = await startServer({ coi: false });
    try {
      for (const [label, url] of [['isolated', server.url], ['plain', plain.url]]) {
        const { page, errors } = await openApp(browser.context, url);
        const info = await page.evaluate(() => ({ threaded: window.cnnlens.threaded, isolated: crossOriginIsolated }));
        assert.equal(info.isolated, label === 'isolated');
        assert.equal(info.threaded, label === 'isolated', `${label}: threaded build expected only when isolated`);
        await dropFile(page, image, 'image/png');
        results[label] = { top5: await page.evaluate(() => window.cnnlens.top5()),
                           heat: await page.evaluate(() => window.cnnlens.heatmap()) };
        assert.deepEqual(consoleErrors(errors), []);
        await page.close();
      }
    } finally {
      plain.stop();
    }
    assert.deepEqual(results.isolated.top5.map((p) => p.index), results.plain.top5.map((p) => p.index));
    if (results.plain.heat) assert.ok(maxAbsDiff(results.isolated.heat.data, results.plain.heat.data) < 1e-5);
  });

  test('paste an image; WebP (which stb cannot read) is decoded by the browser', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    // paste: a ClipboardEvent carrying a PNG file
    const png = fs.readFileSync(path.join(ORACLE, 'tiny_gap/input.png')).toString('base64');
    await page.evaluate(async (b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'clip.png', { type: 'image/png' }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      await new Promise((r) => setTimeout(r, 50));
      await window.cnnlens.ready();
    }, png);
    const pasted = await page.evaluate(() => window.cnnlens.top5());
    const native = parsePredict(cli('predict', '--weights', path.join(ORACLE, 'tiny_gap/w.safetensors'), '--image',
                                    path.join(ORACLE, 'tiny_gap/input.png')));
    assert.equal(pasted[0].index, native[0].index);
    // WebP made by the browser from the same pixels (lossless), dropped: same pixels, same top-1
    const webpTop = await page.evaluate(async (b64) => {
      const bmp = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/png' }));
      const c = new OffscreenCanvas(bmp.width, bmp.height);
      c.getContext('2d').drawImage(bmp, 0, 0);
      const webp = await c.convertToBlob({ type: 'image/webp', quality: 1 });
      if (webp.type !== 'image/webp') return null;
      const dt = new DataTransfer();
      dt.items.add(new File([webp], 'x.webp', { type: 'image/webp' }));
      document.body.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
      await new Promise((r) => setTimeout(r, 50));
      await window.cnnlens.ready();
      return window.cnnlens.top5();
    }, png);
    assert.ok(webpTop, 'this chromium cannot encode WebP');
    assert.equal(await page.evaluate(() => window.cnnlens.lastError()), null);
    assert.equal(webpTop[0].index, native[0].index);
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('mouse and keyboard: click a sample, type a class search', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.frames() > 10; });
    await new Promise((r) => setTimeout(r, 1500));   // the sample thumbnails load after the UI
    // wide layout before any image: the gallery's second thumbnail (chelsea) is at about (126, 362)
    await page.mouse.click(126, 362);
    await page.waitForFunction(() => window.cnnlens.imageName() === 'chelsea' && window.cnnlens.top5().length === 5,
                               null, { timeout: 30000 });
    await page.evaluate(() => window.cnnlens.ready());
    // the class search field is the last widget of the left column (about y = 743 once an image shows)
    await shot(page, 'wide_after_sample_click');
    await page.mouse.click(187, 743);
    await page.keyboard.type('7');
    await shot(page, 'wide_class_search');
    await page.keyboard.press('Escape');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('webcam frames are classified until the freeze-frame button', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    assert.equal(await page.evaluate(() => window.cnnlens.webcam(true)), true);
    await page.waitForFunction(() => window.cnnlens.imageName() === 'webcam' && window.cnnlens.top5().length === 5,
                               null, { timeout: 30000 });
    await page.evaluate(() => window.cnnlens.webcam(false));
    await page.evaluate(() => window.cnnlens.ready());
    const frozen = await page.evaluate(() => window.cnnlens.top5());
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await page.evaluate(() => window.cnnlens.top5()), frozen, 'no new frames after the freeze');
    await shot(page, 'wide_webcam_frozen');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('URL parameters set the view; screenshots of every panel, wide and narrow', async () => {
    for (const [label, width, height] of [['wide', 1280, 800], ['narrow', 420, 800]]) {
      const { page, errors } = await openApp(browser.context,
        server.url + '?image=samples/chelsea.jpg&layer=block2_conv1&colormap=inferno', { width, height });
      await page.waitForFunction(() => window.cnnlens.top5().length === 5);
      await page.evaluate(() => window.cnnlens.ready());
      const view = await page.evaluate(() => window.cnnlens.view());
      assert.equal(view.layer, 'block2_conv1');
      assert.equal(view.cmap, 'inferno');
      const tabs = label === 'wide' ? ['Feature maps', 'Where it looks', 'Model']
                                    : ['Input', 'Predictions', 'Feature maps', 'Where it looks', 'Model'];
      for (const t of tabs) {
        await page.evaluate((t) => window.cnnlens.selectTab(t), t);
        await shot(page, `${label}_${t.toLowerCase().replace(/ /g, '_')}`);
      }
      assert.deepEqual(consoleErrors(errors), []);
      await page.close();
    }
  });
});
