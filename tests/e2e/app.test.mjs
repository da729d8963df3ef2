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
const BUILTIN = path.join(ROOT, 'assets/fashion_mnist_vgg_gap.safetensors');   // the site's models/builtin.safetensors
const FASHION_IMAGE = path.join(ROOT, 'assets/fashion-mnist/9-Ankle-boot-test00000.png');
const DATA = path.join(SITE, 'e2e-data');   // fixtures served next to the page for URL loading

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
const maxAbs = (a) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
// The centre of a named part of the UI as last drawn (cnnlens.item), in CSS pixels.
async function centre(page, name) {
  await page.waitForFunction((n) => { window.cnnlens.redraw(); const r = window.cnnlens.item(n); return r && r.visible; },
                             name, { timeout: 20000 });
  const r = await page.evaluate((n) => window.cnnlens.item(n), name);
  return [r.x + r.w / 2, r.y + r.h / 2];
}
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

  test('the built-in model opens with a gallery image; dropped images give the native CLI\'s top-5, Grad-CAM and CAM',
       async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    await shot(page, 'wide_start');
    assert.deepEqual(fs.readFileSync(BUILTIN), fs.readFileSync(path.join(SITE, 'models/builtin.safetensors')));
    const model = await page.evaluate(() => window.cnnlens.model());
    assert.equal(model.inputSize, 28);
    assert.equal(model.head, 'gap');
    assert.equal(model.numClasses, 10);
    // it opened with the gallery's first Fashion-MNIST image, shown as the network saw it
    const gallery = JSON.parse(fs.readFileSync(path.join(SITE, 'samples/index.json')));
    assert.equal(await page.evaluate(() => window.cnnlens.imageName()), gallery[0].name);
    assert.equal((await page.evaluate(() => window.cnnlens.top5())).length, 5);

    for (const [image, type] of [[FASHION_IMAGE, 'image/png'], [path.join(ROOT, 'assets/samples/coffee.jpg'), 'image/jpeg']]) {
      await dropFile(page, image, type);
      const top5 = await page.evaluate(() => window.cnnlens.top5());
      const native = parsePredict(cli('predict', '--weights', BUILTIN, '--image', image));
      assert.equal(top5.length, 5);
      for (let i = 0; i < 5; i++) {
        assert.equal(top5[i].index, native[i].index, `${image}: class ${i}`);
        assert.equal(top5[i].name, native[i].name);
        assert.ok(Math.abs(top5[i].prob - native[i].prob) < 1e-4, `prob ${top5[i].prob} vs ${native[i].prob}`);
      }
      // what the network saw: 28x28 grey (R = G = B), the object light on a dark border
      const input = await page.evaluate(() => window.cnnlens.input());
      assert.equal(input.side, 28);
      let border = 0;
      for (let p = 0; p < 28 * 28; p++) {
        assert.ok(input.rgb[3 * p] === input.rgb[3 * p + 1] && input.rgb[3 * p] === input.rgb[3 * p + 2], 'grey');
        const y = Math.floor(p / 28), x = p % 28;
        if (y === 0 || y === 27 || x === 0 || x === 27) border += input.rgb[3 * p] / 108;
      }
      assert.ok(border < 60, `mean border ${border}: the background should be dark`);

      // Grad-CAM (class 3, not always the top-1) and CAM (top-1) at the last conv, read back as numbers
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-e2e-npy-'));
      try {
        cli('explain', '--weights', BUILTIN, '--image', image, '--class', `3,${native[0].index}`, '--layer', 'block3_conv2',
            '--dump-npy', dir);
        await page.evaluate(() => window.cnnlens.setClass(3));
        let heat = await page.evaluate(() => window.cnnlens.heatmap());
        assert.equal(heat.layer, 'block3_conv2');
        assert.equal(heat.cls, 3);
        let ref = readNpy(path.join(dir, 'gradcam_block3_conv2_c3.npy'));
        assert.deepEqual(ref.shape, [heat.h, heat.w]);
        let d = maxAbsDiff(heat.data, ref.data);
        assert.ok(d <= 1e-5 * Math.max(1, maxAbs(ref.data)), `Grad-CAM differs from the CLI by ${d}`);
        await page.evaluate(() => window.cnnlens.setClass(-1));
        await page.evaluate(() => window.cnnlens.setMethod('cam'));
        heat = await page.evaluate(() => window.cnnlens.heatmap());
        assert.equal(heat.method, 'cam');
        ref = readNpy(path.join(dir, `cam_c${native[0].index}.npy`));
        d = maxAbsDiff(heat.data, ref.data);
        assert.ok(d <= 1e-5 * Math.max(1, maxAbs(ref.data)), `CAM differs from the CLI by ${d}`);
        await page.evaluate(() => window.cnnlens.setMethod('gradcam'));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      await page.evaluate(() => window.cnnlens.selectTab('gradcam'));
      await shot(page, `wide_gradcam_${path.basename(image).split('.')[0]}`);
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

  test('a compact pack made by the CLI (int8-fc: float16 kernels used in place) gives the CLI\'s numbers for it', async () => {
    const packed = path.join(DATA, 'tiny_fc_int8.safetensors');
    cli('pack', '--weights', path.join(ORACLE, 'tiny_fc/w_timm.safetensors'), '--out', packed, '--kind', 'int8-fc');
    const { page, errors } = await openApp(browser.context, server.url);
    await page.evaluate(() => window.cnnlens.loadWeights('e2e-data/tiny_fc_int8.safetensors'));
    assert.equal(await page.evaluate(() => window.cnnlens.lastError()), null);
    const image = path.join(ORACLE, 'tiny_fc/input.png');
    await dropFile(page, image, 'image/png');
    const top5 = await page.evaluate(() => window.cnnlens.top5());
    const native = parsePredict(cli('predict', '--weights', packed, '--image', image));
    assert.deepEqual(top5.map((p) => p.index), native.slice(0, 5).map((p) => p.index));
    for (let i = 0; i < 5; i++) assert.ok(Math.abs(top5[i].logit - native[i].logit) < 1e-4);
    await page.evaluate(() => window.cnnlens.setLayer('block2_conv1'));
    const act = await page.evaluate(() => Array.from(window.cnnlens.activations().data));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-e2e-npy-'));
    try {
      cli('dump', '--weights', packed, '--image', image, '--npy', dir);
      const ref = readNpy(path.join(dir, 'act_block2_conv1.npy'));
      assert.equal(act.length, ref.data.length);
      assert.ok(maxAbsDiff(act, ref.data) <= 1e-5 * Math.max(1, maxAbs(ref.data)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('a corrupt weights file gives a friendly error and the app keeps working', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    const before = await page.evaluate(() => window.cnnlens.model().name);
    const bad = path.join(os.tmpdir(), 'cnnlens-e2e-corrupt.safetensors');
    fs.writeFileSync(bad, fs.readFileSync(BUILTIN).subarray(0, 3000));
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
    const image = path.join(ROOT, 'assets/samples/coffee.jpg');
    const results = {};
    const plain = await startServer({ coi: false });
    try {
      for (const [label, url] of [['isolated', server.url], ['plain', plain.url]]) {
        const { page, errors } = await openApp(browser.context, url);
        const info = await page.evaluate(() => ({ threaded: window.cnnlens.threaded, isolated: crossOriginIsolated }));
        assert.equal(info.isolated, label === 'isolated');
        assert.equal(info.threaded, label === 'isolated', `${label}: threaded build expected only when isolated`);
        await dropFile(page, image, 'image/jpeg');
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
    const png = fs.readFileSync(FASHION_IMAGE).toString('base64');
    await page.evaluate(async (b64) => {
      const dt = new DataTransfer();
      dt.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], 'clip.png', { type: 'image/png' }));
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      await new Promise((r) => setTimeout(r, 50));
      await window.cnnlens.ready();
    }, png);
    const pasted = await page.evaluate(() => window.cnnlens.top5());
    const native = parsePredict(cli('predict', '--weights', BUILTIN, '--image', FASHION_IMAGE));
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
    // wide layout: the whole gallery is in view at 1280x800; click its second Fashion-MNIST image
    const gallery = JSON.parse(fs.readFileSync(path.join(SITE, 'samples/index.json')));
    await page.mouse.click(...await centre(page, 'sample ' + gallery[1].name));
    await page.waitForFunction((name) => window.cnnlens.imageName() === name && window.cnnlens.top5().length === 5,
                               gallery[1].name, { timeout: 30000 });
    await page.evaluate(() => window.cnnlens.ready());
    await shot(page, 'wide_after_sample_click');
    // type in the class search field and click the only hit: Sneaker
    await page.mouse.click(...await centre(page, 'class search'));
    await page.keyboard.type('sneak');
    await shot(page, 'wide_class_search');
    await page.mouse.click(...await centre(page, 'search hit 0'));
    await page.waitForFunction(() => window.cnnlens.view().cls === 7, null, { timeout: 30000 });
    await page.evaluate(() => window.cnnlens.ready());
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap())).cls, 7);
    await page.keyboard.press('Escape');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('touch: on a phone-sized screen a tap on a gallery image loads it, a tap on a tab opens it', async () => {
    const phone = await launch({ hasTouch: true });
    try {
      const { page, errors } = await openApp(phone.context, server.url, { width: 420, height: 800 });
      await new Promise((r) => setTimeout(r, 1500));   // the sample thumbnails load after the UI
      const gallery = JSON.parse(fs.readFileSync(path.join(SITE, 'samples/index.json')));
      assert.equal(await page.evaluate(() => window.cnnlens.layout()), 'narrow');
      await shot(page, 'narrow_touch_start');
      await page.touchscreen.tap(...await centre(page, 'sample ' + gallery[1].name));   // the Input tab's gallery
      await page.waitForFunction((name) => window.cnnlens.imageName() === name, gallery[1].name, { timeout: 30000 });
      await page.evaluate(() => window.cnnlens.ready());
      await page.touchscreen.tap(...await centre(page, 'tab gradcam'));   // the "Grad-CAM" tab
      await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'gradcam'; },
                                 null, { timeout: 30000 });
      await shot(page, 'narrow_touch_where');
      assert.deepEqual(consoleErrors(errors), []);
      await page.close();
    } finally {
      await phone.close();
    }
  });

  test('webcam frames are classified until the freeze-frame button', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    assert.equal(await page.evaluate(() => window.cnnlens.webcam(true)), true);
    await page.waitForFunction(() => window.cnnlens.imageName() === 'webcam' && window.cnnlens.top5().length === 5,
                               null, { timeout: 30000 });
    // frames keep coming (each result sends the next frame)
    const r0 = await page.evaluate(() => window.cnnlens.stats().results);
    await page.waitForFunction((r) => window.cnnlens.stats().results >= r + 3, r0, { timeout: 30000 });
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
      const tabs = label === 'wide' ? ['maps', 'gradcam', 'model'] : ['input', 'top5', 'maps', 'gradcam', 'model'];
      for (const t of tabs) {
        assert.equal(await page.evaluate((t) => window.cnnlens.selectTab(t), t), true);
        await page.waitForFunction((t) => { window.cnnlens.redraw(); return window.cnnlens.tab() === t; }, t);
        await shot(page, `${label}_${t}`);
      }
      assert.deepEqual(consoleErrors(errors), []);
      await page.close();
    }
  });
});
