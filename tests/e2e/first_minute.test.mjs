// first_minute.test.mjs: what a teacher and a blogger do first, end to end in headless Chromium:
// a photo on the built-in model, copy and paste, links that choose the tab, a blog embedding the
// page in an iframe of another origin (layout, wheel), high-DPI and browser zoom, a model link
// that fails, keyboard-only use, methods a model cannot run, messages, the filmstrip, the class
// menus. One test per point; the screenshots (build/e2e-artifacts/first_*.png) are for people.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ARTIFACTS, ROOT, SITE, launch, openApp, shot, startServer } from './helpers.mjs';

const DATA = path.join(SITE, 'e2e-first');   // fixtures served next to the page
const FC = 'e2e-first/tiny_fc_timm.safetensors';   // a timm-layout VGG with an fc head (stands in for VGG16)
const gallery = () => JSON.parse(fs.readFileSync(path.join(SITE, 'samples/index.json')));
const consoleErrors = (errors) => errors.filter((e) => !/favicon|Failed to load resource/.test(e));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// VGG16's layer list (13 convs, torchvision indices) with 4 channels each and a gap head, random
// weights: a small file with VGG16's depth, for the filmstrip's layout.
function vgg16ShapedSafetensors() {
  const convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28];
  const tensors = [];
  let cin = 3;
  for (const i of convs) {
    tensors.push([`features.${i}.weight`, [4, cin, 3, 3]], [`features.${i}.bias`, [4]]);
    cin = 4;
  }
  tensors.push(['classifier.0.weight', [10, 4]], ['classifier.0.bias', [10]]);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5);
  const header = {}, chunks = [];
  let off = 0;
  for (const [name, shape] of tensors) {
    const n = shape.reduce((a, b) => a * b, 1), data = new Float32Array(n);
    for (let k = 0; k < n; k++) data[k] = rand() * 0.8 + (name.endsWith('bias') ? 0.05 : 0);
    header[name] = { dtype: 'F32', shape, data_offsets: [off, off + 4 * n] };
    chunks.push(Buffer.from(data.buffer));
    off += 4 * n;
  }
  let h = JSON.stringify(header);
  h += ' '.repeat((8 - (h.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.length));
  return Buffer.concat([len, Buffer.from(h, 'latin1'), ...chunks]);
}

// A named part of the UI as last drawn (cnnlens.item), once it is in view; in a frame, the
// coordinates are the frame's.
async function item(target, name) {
  await target.waitForFunction((n) => { window.cnnlens.redraw(); const r = window.cnnlens.item(n); return r && r.visible; },
                               name, { timeout: 60000, polling: 100 });
  // where it stays for a frame (a message that arrives, e.g. a fallback's notice, can move the
  // layout between the query and the click)
  for (let i = 0; ; i++) {
    const r = await target.evaluate((n) => window.cnnlens.item(n), name);
    const f = await target.evaluate(() => { window.cnnlens.redraw(); return window.cnnlens.frames(); });
    await target.waitForFunction((f) => { window.cnnlens.redraw(); return window.cnnlens.frames() > f; }, f,
                                 { timeout: 60000, polling: 50 });
    const r2 = await target.evaluate((n) => window.cnnlens.item(n), name);
    if (i === 10 || (r2 && r2.visible && r2.x === r.x && r2.y === r.y && r2.w === r.w && r2.h === r.h)) return r2;
  }
}
const centre = (r, dx = 0, dy = 0) => [r.x + r.w / 2 + dx, r.y + r.h / 2 + dy];
async function clickItem(page, name) {
  await page.mouse.click(...centre(await item(page, name)));
}
// Waits for a few frames (the UI shows the state), then screenshots an element (an iframe).
async function frameShot(frame, element, name) {
  const f0 = await frame.evaluate(() => { window.cnnlens.redraw(); return window.cnnlens.frames(); });
  await frame.waitForFunction((f) => { window.cnnlens.redraw(); return window.cnnlens.frames() > f + 3; }, f0);
  await element.screenshot({ path: path.join(ARTIFACTS, name + '.png') });
}
// A key press, and the frames in which the UI handles it.
async function press(page, key) {
  await page.keyboard.press(key);
  await settle(page);
}
async function settle(page) {
  await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.inputPending() === 0; }, null,
                             { timeout: 60000, polling: 50 });
  const f = await page.evaluate(() => window.cnnlens.frames());
  await page.waitForFunction((f) => { window.cnnlens.redraw(); return window.cnnlens.frames() > f + 1; }, f,
                             { timeout: 60000, polling: 50 });
}
// Waits until the page's clipboard holds `text`.
async function clipboardHolds(page, text) {
  await page.waitForFunction(async (t) => (await navigator.clipboard.readText()) === t, text, { timeout: 20000, polling: 100 });
}

describe('the first minute', { timeout: 600000 }, () => {
  let server, browser, blog, blogUrl;
  before(async () => {
    assert.ok(fs.existsSync(path.join(SITE, 'index.html')), 'build/site is missing: run ./build.sh web');
    fs.mkdirSync(DATA, { recursive: true });
    fs.copyFileSync(path.join(ROOT, 'tests/data/oracle/tiny_fc/w_timm.safetensors'), path.join(SITE, FC));
    // the page as a static host without cross-origin isolation serves it (as blogs embed it)
    server = await startServer({ coi: false });
    browser = await launch();
    // A blog on another origin (localhost vs 127.0.0.1: another site, too) embedding the page in a
    // 760x480 iframe between paragraphs: /?src=<iframe src>&w=&h=
    const para = '<p>' + 'The convolutional layers of a VGG network learn edges first, then textures and parts. '.repeat(10) + '</p>';
    blog = http.createServer((req, res) => {
      const q = new URL(req.url, 'http://x').searchParams;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>A blog</title></head>
        <body style="font: 17px Georgia, serif; max-width: 820px; margin: 0 auto; padding: 0 16px">
        <h1>What does a CNN see?</h1>${para.repeat(2)}
        <iframe id="lens" src="${q.get('src')}" width="${q.get('w') || 760}" height="${q.get('h') || 480}"
                style="border: 1px solid #999" title="CNN Lens"></iframe>
        ${para.repeat(40)}</body></html>`);
    });
    await new Promise((r) => blog.listen(0, '127.0.0.1', r));
    blogUrl = `http://localhost:${blog.address().port}/`;
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) server.stop();
    if (blog) blog.closeAllConnections(), blog.close();
    fs.rmSync(DATA, { recursive: true, force: true });
  });

  // A blog page with the app in its iframe: {page, frame, element, errors}, the app ready.
  async function openBlog(appQuery, { w = 760, h = 480, context = browser.context, width = 1280, height = 800 } = {}) {
    const page = await context.newPage();
    await page.setViewportSize({ width, height });
    const errors = [];
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`${blogUrl}?w=${w}&h=${h}&src=${encodeURIComponent(server.url + 'index.html?' + appQuery)}`);
    const element = await page.$('#lens');
    const frame = await element.contentFrame();
    await frame.waitForFunction(() => window.cnnlens && window.cnnlens.model() && window.cnnlens.top5().length, null,
                                { timeout: 60000 });
    await frame.evaluate(() => window.cnnlens.ready());
    return { page, frame, element, errors };
  }

  test('1. a photo on the built-in model: it says what it knows, a notice offers VGG16, the button loads it', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=samples/chelsea.jpg&vgg16=${FC}`);
    const model = await page.evaluate(() => window.cnnlens.model());
    assert.equal(model.knows, '10 kinds of clothing (Fashion-MNIST)');
    assert.equal(model.dataset, 'fashion-mnist');
    await item(page, 'photo notice');
    await shot(page, 'first_photo_notice');
    // one click: VGG16 (here the fc fixture the vgg16= parameter names) replaces the built-in model,
    // and the photo is run again as it sees it: 32x32 colour, not a grey 28x28 garment
    await clickItem(page, 'Load VGG16');
    await page.waitForFunction(() => window.cnnlens.model().layout === 'timm', null, { timeout: 30000 });
    await page.evaluate(() => window.cnnlens.ready());
    assert.equal(await page.evaluate(() => window.cnnlens.imageName()), 'chelsea.jpg');
    let input = await page.evaluate(() => window.cnnlens.input());
    assert.equal(input.side, 32);
    assert.ok(input.rgb.some((v, i) => i % 3 === 0 && v !== input.rgb[i + 1]), 'a colour image');
    // items are those of the last frame drawn: wait for a frame after the model change
    const gone = await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.item('photo notice') === null; },
                                            null, { timeout: 5000, polling: 100 }).then(() => true, () => false);
    assert.ok(gone, 'no notice for an image it suits');
    assert.equal(await page.evaluate(() => window.cnnlens.model().knows), '10 classes');
    await shot(page, 'first_photo_after_vgg16');
    await page.close();

    // from the built-in model's own gallery image, the Model tab's button: the 28x28 garment does
    // not stay on screen as the new model's input; the gallery's first photo replaces it
    const second = await openApp(browser.context, server.url + `?vgg16=${FC}&tab=model`);
    assert.equal(await second.page.evaluate(() => window.cnnlens.imageName()), gallery()[0].name);
    await clickItem(second.page, 'Load VGG16');
    await second.page.waitForFunction(() => window.cnnlens.model().layout === 'timm', null, { timeout: 30000 });
    await second.page.evaluate(() => window.cnnlens.ready());
    const photo = gallery().find((s) => s.group === 'Photos');
    assert.equal(await second.page.evaluate(() => window.cnnlens.imageName()), photo.name);
    input = await second.page.evaluate(() => window.cnnlens.input());
    assert.equal(input.side, 32);
    await second.page.evaluate(() => window.cnnlens.selectTab('gradcam'));
    await shot(second.page, 'first_vgg16_gallery_photo');
    // and back: the built-in model gets a Fashion-MNIST image again
    await second.page.evaluate(() => window.cnnlens.loadWeights('models/builtin.safetensors'));
    assert.equal(await second.page.evaluate(() => window.cnnlens.imageName()), gallery()[0].name);
    assert.equal((await second.page.evaluate(() => window.cnnlens.input())).side, 28);
    // README's example links name their model or use the dataset's images
    const links = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').match(/index\.html\?[^\s`)]+/g) || [];
    assert.ok(links.length >= 2, 'README has example links');
    for (const l of links) {
      const p = new URLSearchParams(l.split('?')[1]);
      assert.ok(p.has('model') || p.has('vgg16') || !p.has('image') || p.get('image').startsWith('samples/fashion-mnist/'),
                `${l}: a photo without a model`);
    }
    assert.deepEqual(consoleErrors(errors.concat(second.errors)), []);
    await second.page.close();
  });

  test('2. copy and paste in every text field (image URL, weights URL, class search)', async () => {
    const origin = server.url.replace(/\/$/, '');
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin });
    const { page, errors } = await openApp(browser.context, server.url);
    // paste a URL into the image-URL field with Ctrl+V, Enter loads it
    await page.evaluate(() => navigator.clipboard.writeText('samples/fashion-mnist/7-Sneaker-test00009.png'));
    await clickItem(page, 'image URL');
    await press(page, 'Control+V');
    await shot(page, 'first_paste_url');
    await press(page, 'Enter');
    await page.waitForFunction(() => window.cnnlens.imageName() === '7-Sneaker-test00009.png', null, { timeout: 30000 });
    await page.evaluate(() => window.cnnlens.ready());
    assert.equal((await page.evaluate(() => window.cnnlens.top5()))[0].name, 'Sneaker');
    // copy it back out: select all, Ctrl+C; cut: Ctrl+X empties the field
    await clickItem(page, 'image URL');
    await press(page, 'Control+A');
    await press(page, 'Control+C');
    await clipboardHolds(page, 'samples/fashion-mnist/7-Sneaker-test00009.png');
    await page.evaluate(() => navigator.clipboard.writeText(''));
    await press(page, 'Control+A');
    await press(page, 'Control+X');
    await clipboardHolds(page, 'samples/fashion-mnist/7-Sneaker-test00009.png');
    await press(page, 'Escape');
    // the browser's paste event without Ctrl (Cmd+V on a Mac, the context menu) types the text in
    // too: the class search field
    await clickItem(page, 'class search');
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.setData('text/plain', 'Sand');
      document.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
    });
    await settle(page);
    await clickItem(page, 'search hit 0');
    await page.waitForFunction(() => window.cnnlens.view().cls === 5, null, { timeout: 20000 });
    // the Model tab's weights URL field: Ctrl+V replaces the selection
    await page.evaluate(() => window.cnnlens.selectTab('model'));
    await page.evaluate(() => navigator.clipboard.writeText('e2e-first/tiny_fc_timm.safetensors'));
    await clickItem(page, 'weights URL');
    await press(page, 'Control+A');
    await press(page, 'Control+V');
    await shot(page, 'first_paste_weights_url');
    await clickItem(page, 'Download and load');
    await page.waitForFunction(() => window.cnnlens.model().layout === 'timm', null, { timeout: 30000 });
    await page.evaluate(() => window.cnnlens.ready());
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('3. tab= opens a tab; embed=1 in a 760x480 iframe of another origin shows the heatmap without scrolling', async () => {
    // a link that chooses the tab: wide and narrow
    for (const [label, width] of [['wide', 1280], ['narrow', 420]]) {
      const { page, errors } = await openApp(browser.context, server.url + '?tab=gradcam&colormap=turbo', { width, height: 800 });
      await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'gradcam'; });
      assert.equal(await page.evaluate(() => window.cnnlens.layout()), label);
      await item(page, 'heatmap');
      await shot(page, `first_tab_gradcam_${label}`);
      if (label === 'narrow') {
        for (const t of ['input', 'top5', 'maps', 'model']) {
          assert.equal(await page.evaluate((t) => window.cnnlens.selectTab(t), t), true);
          await page.waitForFunction((t) => { window.cnnlens.redraw(); return window.cnnlens.tab() === t; }, t);
        }
        assert.equal(await page.evaluate(() => window.cnnlens.selectTab('nonsense')), false);
      }
      assert.deepEqual(consoleErrors(errors), []);
      await page.close();
    }
    const bad = await openApp(browser.context, server.url + '?tab=nonsense');
    assert.match((await bad.page.evaluate(() => window.cnnlens.messages()))[0].text, /no tab "nonsense"/);
    await bad.page.close();

    // the blog: a 760x480 iframe of another site, no cross-origin isolation
    const { page, frame, element, errors } = await openBlog('embed=1&tab=gradcam');
    assert.equal(await frame.evaluate(() => window.cnnlens.layout()), 'embed');
    assert.equal(await frame.evaluate(() => window.cnnlens.tab()), 'gradcam');
    assert.equal(await frame.evaluate(() => crossOriginIsolated), false);
    const heat = await item(frame, 'heatmap');
    assert.ok(heat.w >= 300, `the heatmap is ${heat.w} px wide`);
    assert.ok(heat.y >= 0 && heat.y + heat.h <= 480 && heat.x + heat.w <= 760, 'the heatmap is inside the frame');
    await item(frame, 'class');   // the controls it needs, beside it
    await item(frame, 'method');
    await element.scrollIntoViewIfNeeded();
    await frameShot(frame, element, 'first_embed_760x480');
    await page.screenshot({ path: path.join(ARTIFACTS, 'first_embed_blog.png') });
    // "Open in full page": this view, in a new tab, without embed
    const link = await frame.evaluate(() => window.cnnlens.link());
    assert.match(link, /tab=gradcam/);
    assert.doesNotMatch(link, /embed/);
    const popup = page.context().waitForEvent('page');
    await (async () => {
      const r = await item(frame, 'Open in full page');
      const box = await element.boundingBox();
      await page.mouse.click(box.x + r.x + r.w / 2, box.y + r.y + r.h / 2);
    })();
    const full = await popup;
    await full.waitForFunction(() => window.cnnlens && window.cnnlens.model() && window.cnnlens.top5().length, null, { timeout: 60000 });
    await full.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'gradcam'; });
    assert.equal(await full.evaluate(() => window.cnnlens.layout()), 'wide');
    await full.close();
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();

    // never the phone layout at a blog's ordinary widths: 480x360 still shows view and controls side by side
    const small = await openBlog('embed=1&tab=gradcam', { w: 480, h: 360 });
    assert.equal(await small.frame.evaluate(() => window.cnnlens.layout()), 'embed');
    const h2 = await item(small.frame, 'heatmap');
    const c2 = await item(small.frame, 'class');
    assert.ok(c2.x > h2.x + h2.w, 'the controls are beside the heatmap');
    assert.ok(h2.y + h2.h <= 360);
    await small.element.scrollIntoViewIfNeeded();
    await frameShot(small.frame, small.element, 'first_embed_480x360');
    await small.page.close();
  });

  test('4. the wheel over the embed scrolls the blog; after a click, a panel that can scroll takes it first', async () => {
    const { page, frame, element, errors } = await openBlog('embed=1&tab=gradcam');
    await page.evaluate(() => window.scrollTo(0, 0));
    let box = await element.boundingBox();
    // the pointer on the frame's controls (at rest: nothing clicked in it yet)
    await page.mouse.move(box.x + box.width - 120, box.y + 150);
    await sleep(200);
    const y0 = await page.evaluate(() => scrollY);
    await page.mouse.wheel(0, 100);
    await page.waitForFunction((y) => scrollY > y, y0, { timeout: 5000 });   // one notch over the frame moves the blog
    for (let i = 1; i < 30; i++) {
      await page.mouse.wheel(0, 100);
      await sleep(20);
    }
    await page.waitForFunction((y) => scrollY >= y + 2700, y0, { timeout: 10000 });
    const moved = await page.evaluate((y) => scrollY - y, y0);
    assert.ok(moved >= 2700, `30 notches scrolled the blog by ${moved} px`);

    // clicked into, on the Feature maps tab: the map grid (which can scroll) takes the wheel until
    // its end, then the blog moves again
    await element.scrollIntoViewIfNeeded();
    await frame.evaluate(() => window.cnnlens.selectTab('maps'));
    const first = await item(frame, 'channel 0');
    box = await element.boundingBox();
    await page.mouse.click(box.x + 100, box.y + 12);   // the title row: focuses the frame, changes nothing
    await page.mouse.move(box.x + first.x + 20, box.y + first.y + 20);
    await frame.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.frames() > 0; });
    await sleep(300);
    const y1 = await page.evaluate(() => scrollY);
    await page.mouse.wheel(0, 100);
    await frame.waitForFunction((y) => { window.cnnlens.redraw(); const r = window.cnnlens.item('channel 0');
                                         return !r || r.y < y; }, first.y, { timeout: 30000 });   // the grid moved up
    assert.equal(await page.evaluate(() => scrollY), y1, 'the grid scrolled, not the blog');
    for (let i = 0; i < 40; i++) {   // to the grid's end, and on
      await page.mouse.wheel(0, 100);
      await sleep(30);
    }
    await page.waitForFunction((y) => scrollY > y, y1, { timeout: 10000 });
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('5. device scale 2: the canvas at twice its CSS size; 150% zoom keeps the wide layout; scale= and the UI size setting', async () => {
    for (const [label, opts] of [['scale2', { deviceScaleFactor: 2, width: 1280, height: 800 }],
                                 ['zoom150', { deviceScaleFactor: 1.5, width: 853, height: 533 }]]) {
      const ctx = await launch({ deviceScaleFactor: opts.deviceScaleFactor });
      try {
        const { page, errors } = await openApp(ctx.context, server.url + '?tab=gradcam', { width: opts.width, height: opts.height });
        const c = await page.evaluate(() => { const c = document.getElementById('canvas');
          return { w: c.width, h: c.height, cw: c.clientWidth, ch: c.clientHeight, dpr: devicePixelRatio }; });
        assert.equal(c.dpr, opts.deviceScaleFactor);
        assert.equal(c.cw, opts.width);
        assert.equal(c.w, Math.round(opts.width * opts.deviceScaleFactor), `${label}: canvas backing ${c.w} for ${c.cw} CSS px`);
        assert.equal(c.h, Math.round(opts.height * opts.deviceScaleFactor));
        assert.equal(await page.evaluate(() => window.cnnlens.layout()), 'wide', `${label}: ${opts.width} CSS px stays wide`);
        // the mouse still hits what it points at, in CSS pixels
        await item(page, 'heatmap');
        await clickItem(page, 'tab maps');
        await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'maps'; });
        await clickItem(page, 'tab gradcam');
        await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'gradcam'; });
        await shot(page, `first_${label}`);
        assert.deepEqual(consoleErrors(errors), []);
        await page.close();
      } finally {
        await ctx.close();
      }
    }
    // a projector: scale=1.5 at 1280x800 is laid out in 853 logical pixels, still wide
    const { page, errors } = await openApp(browser.context, server.url + '?scale=1.5');
    assert.equal(await page.evaluate(() => window.cnnlens.scale()), 1.5);
    assert.equal(await page.evaluate(() => window.cnnlens.layout()), 'wide');
    const t = await item(page, 'tab gradcam');
    await shot(page, 'first_scale150');
    // the A+ button of the title row, remembered for the next visit
    await page.mouse.click(...centre(t));
    await clickItem(page, 'UI larger');
    await page.waitForFunction(() => window.cnnlens.scale() === 1.75, null, { timeout: 30000 });
    assert.equal(await page.evaluate(() => localStorage.getItem('cnnlens-scale')), '1.75');
    await page.goto(server.url);
    await page.waitForFunction(() => window.cnnlens && window.cnnlens.model(), null, { timeout: 60000 });
    await page.waitForFunction(() => window.cnnlens.scale() === 1.75);
    assert.equal(await page.evaluate(() => window.cnnlens.layout()), 'wide', '731 logical px');
    await clickItem(page, 'UI larger');
    await page.waitForFunction(() => window.cnnlens.scale() === 2, null, { timeout: 30000 });
    assert.equal(await page.evaluate(() => window.cnnlens.layout()), 'narrow', '640 logical px');
    await shot(page, 'first_scale200_narrow');
    await page.evaluate(() => window.cnnlens.setScale(1));
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('6. a model link that fails falls back to the built-in model within 5 s, shows ?image=, and the gallery works', async () => {
    const trouser = 'samples/fashion-mnist/1-Trouser-test00002.png';
    const closed = await new Promise((resolve) => {   // a port nothing listens on
      const s = http.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    });
    for (const [label, model, why] of [['404', 'e2e-first/missing.safetensors', /HTTP 404.*no such file/],
                                       ['jpeg', 'samples/coffee.jpg', /.+/],
                                       ['unreachable', `http://127.0.0.1:${closed}/vgg16.safetensors`, /cannot be reached/]]) {
      const page = await browser.context.newPage();
      await page.setViewportSize({ width: 1280, height: 800 });
      const errors = [];
      page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
      const t0 = Date.now();
      await page.goto(server.url + `?model=${encodeURIComponent(model)}&image=${trouser}`);
      await page.waitForFunction(() => window.cnnlens && window.cnnlens.model() && window.cnnlens.top5().length, null,
                                 { timeout: 5000 });
      const took = Date.now() - t0;
      assert.ok(took < 5000, `${label}: ${took} ms`);
      assert.equal(await page.evaluate(() => window.cnnlens.model().name), 'built-in: Fashion-MNIST VGG-GAP (ours)');
      assert.equal(await page.evaluate(() => window.cnnlens.imageName()), '1-Trouser-test00002.png');
      assert.equal((await page.evaluate(() => window.cnnlens.top5()))[0].name, 'Trouser');
      const err = await page.evaluate(() => window.cnnlens.lastError());
      assert.equal(err.where, 'weights');
      assert.ok(err.text.includes(new URL(model, server.url).href), `${label}: the message names the URL: ${err.text}`);
      assert.match(err.text, why);
      assert.match(err.text, /Loading the built-in model instead\./);
      await page.evaluate(() => window.cnnlens.ready());
      if (label === '404') await shot(page, 'first_model_404_fallback');
      // a gallery click then predicts
      const s = gallery()[9];
      await clickItem(page, 'sample ' + s.name);
      await page.waitForFunction((n) => window.cnnlens.imageName() === n, s.name, { timeout: 20000 });
      await page.evaluate(() => window.cnnlens.ready());
      assert.equal((await page.evaluate(() => window.cnnlens.top5())).length, 5);
      assert.deepEqual(consoleErrors(errors), []);
      await page.close();
    }
    // no model at all (the built-in one unreachable too, in a fresh profile without a cached copy):
    // a gallery click says why nothing is classified; a model loaded later classifies that image
    const offline = await launch();
    try {
      await offline.context.route(/models\/builtin\.safetensors/, (r) => r.fulfill({ status: 503, body: 'down' }));
      const page = await offline.context.newPage();
      await page.setViewportSize({ width: 1280, height: 800 });
      await page.goto(server.url + '?model=e2e-first/missing.safetensors');
      await page.waitForFunction(() => window.cnnlens && window.cnnlens.errors().length >= 2, null, { timeout: 30000 });
      await page.evaluate(() => window.cnnlens.ready());
      assert.equal(await page.evaluate(() => window.cnnlens.model()), null);
      const s = gallery().filter((x) => x.group === 'Photos')[2];   // a photo: it suits the model loaded below
      await clickItem(page, 'sample ' + s.name);
      await page.waitForFunction(() => /no model is loaded/.test((window.cnnlens.lastError() || {}).text), null, { timeout: 30000 });
      await shot(page, 'first_no_model_says_why');
      assert.equal(await page.evaluate(() => window.cnnlens.loadWeights(new URL('e2e-first/tiny_fc_timm.safetensors', location.href).href)),
                   'tiny_fc_timm.safetensors');
      assert.equal(await page.evaluate(() => window.cnnlens.imageName()), s.name);
      assert.equal((await page.evaluate(() => window.cnnlens.top5())).length, 5);
      await page.close();
    } finally {
      await offline.close();
    }
  });

  test('7. keyboard only: a visible focus from the first Tab, Tab to a gallery image, arrows, Enter loads it; [ ] in both tabs', async () => {
    const { page, errors } = await openApp(browser.context, server.url);
    await item(page, 'sample ' + gallery()[0].name);
    assert.equal(await page.evaluate(() => window.cnnlens.focused()), null);
    await press(page, 'Tab');
    const f1 = await page.evaluate(() => window.cnnlens.focused());
    assert.ok(f1 && f1.w > 0, 'the first Tab shows a focus');
    await shot(page, 'first_keyboard_first_tab');
    // Tab on to the gallery's first image, the arrow key to the next one, Enter loads it
    const seen = [f1.label];
    for (let i = 0; i < 40 && !seen[seen.length - 1].startsWith('sample '); i++) {
      await press(page, 'Tab');
      seen.push((await page.evaluate(() => window.cnnlens.focused())).label);
    }
    assert.equal(seen[seen.length - 1], 'sample ' + gallery()[0].name, seen.join(' | '));
    assert.ok(new Set(seen).size === seen.length, 'every Tab moved on');
    await press(page, 'ArrowRight');
    const target = gallery()[1];
    assert.equal((await page.evaluate(() => window.cnnlens.focused())).label, 'sample ' + target.name);
    await shot(page, 'first_keyboard_gallery_focus');
    await press(page, 'Enter');
    await page.waitForFunction((n) => window.cnnlens.imageName() === n, target.name, { timeout: 20000 });
    await page.evaluate(() => window.cnnlens.ready());
    // Shift+Tab goes back: to the gallery's first image, then to the widget before it
    await press(page, 'Shift+Tab');
    assert.equal((await page.evaluate(() => window.cnnlens.focused())).label, seen[seen.length - 1]);
    await press(page, 'Shift+Tab');
    assert.equal((await page.evaluate(() => window.cnnlens.focused())).label, seen[seen.length - 2]);
    // a tab by keyboard: Tab until "tab gradcam", Enter opens it
    for (let i = 0; i < 40 && (await page.evaluate(() => window.cnnlens.focused())).label !== 'tab gradcam'; i++)
      await press(page, 'Tab');
    await press(page, 'Enter');
    await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'gradcam'; });
    // [ and ] step Grad-CAM's layer here, the feature maps' layer on Feature maps
    const camBefore = (await page.evaluate(() => window.cnnlens.view())).camLayer;
    await press(page, 'BracketLeft');
    await page.evaluate(() => window.cnnlens.ready());
    const camAfter = (await page.evaluate(() => window.cnnlens.view())).camLayer;
    assert.notEqual(camAfter, camBefore);
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap())).layer, camAfter);
    await press(page, 'BracketRight');
    await page.evaluate(() => window.cnnlens.ready());
    assert.equal((await page.evaluate(() => window.cnnlens.view())).camLayer, camBefore);
    await page.evaluate(() => window.cnnlens.selectTab('maps'));
    await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'maps'; });
    const layerBefore = (await page.evaluate(() => window.cnnlens.view())).layer;
    await press(page, 'BracketLeft');
    await page.evaluate(() => window.cnnlens.ready());
    assert.notEqual((await page.evaluate(() => window.cnnlens.view())).layer, layerBefore);
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('8. CAM is not selectable on an fc model; messages float over the layout and go when fixed', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?model=${FC}&tab=gradcam&image=samples/coffee.jpg`);
    const cam = (await page.evaluate(() => window.cnnlens.model())).methods.find((m) => m.name === 'cam');
    assert.match(cam.unavailable, /.+/);
    await assert.rejects(page.evaluate(() => window.cnnlens.setMethod('cam')), /cannot run on this model/);
    // the menu shows it disabled, with the reason; clicking it changes nothing
    await clickItem(page, 'method');
    const item_ = await item(page, 'method cam');
    await page.mouse.move(...centre(item_));
    await sleep(800);   // the tooltip
    await shot(page, 'first_fc_cam_disabled');
    await page.mouse.click(...centre(item_));
    await page.keyboard.press('Escape');
    await page.evaluate(() => window.cnnlens.ready());
    assert.equal((await page.evaluate(() => window.cnnlens.view())).method, 'gradcam');
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap())).method, 'gradcam');

    // an error message: the layout does not move; the next image that loads removes it
    const before = await item(page, 'heatmap');
    const pred = await item(page, 'prediction 0');
    await page.evaluate(() => window.cnnlens.loadImage('e2e-first/no-such-image.png'));
    const msgs = await page.evaluate(() => window.cnnlens.messages());
    assert.equal(msgs.length, 1);
    assert.match(msgs[0].text, /Could not read the image .*HTTP 404/);
    await item(page, 'toast 0');
    assert.deepEqual(await item(page, 'heatmap'), before, 'the heatmap did not move');
    assert.deepEqual(await item(page, 'prediction 0'), pred, 'the predictions did not move');
    await shot(page, 'first_toast');
    await page.evaluate(() => window.cnnlens.loadImage('samples/chelsea.jpg'));
    assert.deepEqual(await page.evaluate(() => window.cnnlens.messages()), []);
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('9. the filmstrip: each layer on its own scale by default, all in view in the wide layout', async () => {
    const { page, errors } = await openApp(browser.context, server.url + '?tab=gradcam');
    await page.evaluate(() => window.cnnlens.setOptions({ filmstrip: true }));
    await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.filmstrip().length > 0; });
    const convs = (await page.evaluate(() => window.cnnlens.layers())).filter((l) => l.kind === 'conv').map((l) => l.name);
    let strip = await page.evaluate(() => window.cnnlens.filmstrip());
    assert.deepEqual(strip.map((s) => s.layer), convs);
    for (const s of strip) assert.ok(s.lo === s.min && s.hi === s.max, `${s.layer}: its own scale`);
    const peaks = strip.map((s) => s.max);
    assert.ok(Math.max(...peaks) / Math.min(...peaks) > 2, 'the layers\' peaks differ: one shared scale would hide some');
    for (const l of convs) await item(page, 'filmstrip ' + l);   // visible: in the window, not scrolled away
    await item(page, 'heatmap');
    await shot(page, 'first_filmstrip_per_layer');
    await page.evaluate(() => window.cnnlens.setOptions({ sharedScale: true }));
    await page.waitForFunction(() => {
      window.cnnlens.redraw();
      const f = window.cnnlens.filmstrip();
      return f.length && f.every((s) => s.lo === f[0].lo && s.hi === f[0].hi);
    });
    strip = await page.evaluate(() => window.cnnlens.filmstrip());
    for (const s of strip) assert.ok(s.lo === strip[0].lo && s.hi === strip[0].hi, 'one scale');
    await shot(page, 'first_filmstrip_shared');
    // VGG16's depth: 13 conv layers, every one in view beside the map at 1280x800
    fs.writeFileSync(path.join(DATA, 'vgg16_shaped.safetensors'), vgg16ShapedSafetensors());
    await page.evaluate(() => window.cnnlens.setOptions({ sharedScale: false }));
    await page.evaluate(() => window.cnnlens.loadWeights('e2e-first/vgg16_shaped.safetensors'));
    await page.evaluate(() => window.cnnlens.loadImage('samples/coffee.jpg'));
    await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.filmstrip().length === 13; }, null,
                               { timeout: 60000 });
    strip = await page.evaluate(() => window.cnnlens.filmstrip());
    for (const s of strip) {
      assert.ok(s.lo === s.min && s.hi === s.max, `${s.layer}: its own scale`);
      const r = await item(page, 'filmstrip ' + s.layer);
      assert.ok(r.w >= 56 && r.y + r.h <= 800, `${s.layer} at ${JSON.stringify(r)}`);
    }
    await item(page, 'heatmap');
    await shot(page, 'first_filmstrip_13_layers');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('10. classes by name for both: setClass(name, name2), the menus search all classes; one line per panel', async () => {
    const { page, errors } = await openApp(browser.context, server.url + '?tab=gradcam');
    await page.evaluate(() => window.cnnlens.setClass('Sneaker', 'sandal'));
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap())).cls, 7);
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap(1))).cls, 5);
    assert.equal((await page.evaluate(() => window.cnnlens.view())).cls2, 5);
    await page.evaluate(() => window.cnnlens.setClass(3, '9'));
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap(1))).cls, 9);
    await assert.rejects(page.evaluate(() => window.cnnlens.setClass('Sneaker', 'no such class')), /unknown class/);
    await assert.rejects(page.evaluate(() => window.cnnlens.setClass(10)), /unknown class/);
    await page.evaluate(() => window.cnnlens.setClass(null, 'off'));
    assert.equal((await page.evaluate(() => window.cnnlens.view())).cls2, -1);
    // "compare with": not only the top 5 but any class, through its search field
    await clickItem(page, 'compare with');
    await page.keyboard.type('bag');
    await settle(page);
    await shot(page, 'first_compare_search');
    await press(page, 'ArrowDown');
    await press(page, 'Enter');
    await page.waitForFunction(() => window.cnnlens.view().cls2 === 8, null, { timeout: 20000 });
    await page.evaluate(() => window.cnnlens.ready());
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap(1))).cls, 8);
    await shot(page, 'first_compare_bag');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('a browser without WebGL 2: a plain message in the page\'s language (the UI\'s table, fonts/zh.json)', async () => {
    for (const [lang, want] of [['en', 'This browser lacks WebGL 2, which CNN Lens needs.'],
                                ['zh', '这个浏览器缺少 CNN Lens 需要的 WebGL 2。']]) {
      const page = await browser.context.newPage();
      await page.addInitScript(() => { delete window.WebGL2RenderingContext; });
      await page.goto(server.url + 'index.html?lang=' + lang);
      const shown = await page.waitForFunction((w) => document.getElementById('fallback').textContent.includes(w), want,
                                               { timeout: 10000 }).then(() => true, () => false);
      assert.ok(shown, `the ${lang} message: ` + await page.evaluate(() => document.getElementById('fallback').textContent));
      assert.equal(await page.evaluate(() => window.cnnlensUnsupported), true);
      await page.screenshot({ path: path.join(ARTIFACTS, `first_no_webgl2_${lang}.png`) });   // no UI: no cnnlens.redraw
      await page.close();
    }
  });
});
