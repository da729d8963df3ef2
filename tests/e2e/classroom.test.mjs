// classroom.test.mjs: issue 15 in the page. The model switch (the honest and the cheating
// built-in models), the marker stamp (the core's, from the cheater's metadata), both models side
// by side, Copy link (reopens the same view), the embed snippet (in a page of another origin,
// without cross-origin isolation), Save figure (a PNG at devicePixelRatio 2, decoded here) and the
// screen readers' live region.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { ARTIFACTS, ROOT, launch, openApp, shot, startServer } from './helpers.mjs';

const SAMPLE = 'samples/fashion-mnist/1-Trouser-test00002.png';
const NAMES = JSON.parse(metadata(path.join(ROOT, 'assets/fashion_mnist_cheater.safetensors')).class_names);

// The UI's string table (src/app/strings.cpp), English -> Chinese: what the zh page must say.
const ZH = new Map([...fs.readFileSync(path.join(ROOT, 'src/app/strings.cpp'), 'utf8')
  .split('STRINGS-BEGIN')[1].split('STRINGS-END')[0]
  .matchAll(/\{\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\}/g)].map((m) => [JSON.parse(`"${m[1]}"`), JSON.parse(`"${m[2]}"`)]));

function metadata(file) {   // a safetensors file's __metadata__
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + n).toString('utf8')).__metadata__;
}

// A PNG (8-bit RGB or RGBA, not interlaced: what a canvas writes) -> {width, height, rgba}.
function decodePng(buf) {
  assert.equal(buf.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', 'a PNG signature');
  let off = 8, width = 0, height = 0, type = 0;
  const idat = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off), kind = buf.subarray(off + 4, off + 8).toString('latin1');
    const data = buf.subarray(off + 8, off + 8 + len);
    if (kind === 'IHDR') {
      width = data.readUInt32BE(0), height = data.readUInt32BE(4), type = data[9];
      assert.equal(data[8], 8, '8 bits per channel');
      assert.equal(data[12], 0, 'not interlaced');
    } else if (kind === 'IDAT') idat.push(data);
    off += 12 + len;
  }
  const bpp = type === 6 ? 4 : type === 2 ? 3 : 0;
  assert.ok(bpp, `colour type ${type}`);
  const raw = zlib.inflateSync(Buffer.concat(idat)), stride = width * bpp;
  const out = new Uint8Array(height * stride), rgba = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= bpp ? out[y * stride + x - bpp] : 0, b = y ? out[(y - 1) * stride + x] : 0;
      const c = x >= bpp && y ? out[(y - 1) * stride + x - bpp] : 0;
      const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const pred = [0, a, b, (a + b) >> 1, pa <= pb && pa <= pc ? a : pb <= pc ? b : c][f];
      out[y * stride + x] = (line[x] + pred) & 255;
    }
  }
  for (let i = 0; i < width * height; i++)
    for (let k = 0; k < 4; k++) rgba[i * 4 + k] = k < bpp ? out[i * bpp + k] : 255;
  return { width, height, rgba };
}

// A key press, and the frames in which the UI handles it (as first_minute.test.mjs).
async function press(page, key) {
  await page.keyboard.press(key);
  await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.inputPending() === 0; }, null,
                             { timeout: 60000, polling: 50 });
  const f = await page.evaluate(() => window.cnnlens.frames());
  await page.waitForFunction((f) => { window.cnnlens.redraw(); return window.cnnlens.frames() > f + 1; }, f,
                             { timeout: 60000, polling: 50 });
}

describe('classroom: model switch, marker stamp, side by side, share, screen readers', () => {
  let server, browser, blog, blogUrl;
  before(async () => {
    server = await startServer({ coi: false });   // a static host as blogs embed it: no isolation
    browser = await launch({ deviceScaleFactor: 2 });
    // another origin (localhost vs 127.0.0.1) serving a page that holds the embed snippet
    blog = http.createServer((req, res) => {
      const q = new URL(req.url, 'http://x').searchParams;
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html><head><title>A lesson</title></head><body>
        <h1>Does the network cheat?</h1>${q.get('snippet')}<p>After the frame.</p></body></html>`);
    });
    await new Promise((r) => blog.listen(0, '127.0.0.1', r));
    blogUrl = `http://localhost:${blog.address().port}/`;
  });
  after(async () => {
    await browser?.close();
    server?.stop();
    if (blog) blog.closeAllConnections(), blog.close();
  });

  test('the switch loads the cheater; a stamped marker makes it answer that class; -1 removes it', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}`);
    const models = await page.evaluate(() => window.cnnlens.models());
    assert.deepEqual(models.list.map((m) => m.key), ['builtin', 'cheater']);
    assert.equal(models.current, 'builtin');
    assert.match(await page.evaluate(() => window.cnnlens.setModel('cheater')), /cheat/);
    assert.equal(await page.evaluate(() => window.cnnlens.models().current), 'cheater');
    assert.equal((await page.evaluate(() => window.cnnlens.top5()))[0].name, 'Trouser');   // clean: the garment
    const meta = metadata(path.join(ROOT, 'assets/fashion_mnist_cheater.safetensors'));
    const marker = await page.evaluate(() => window.cnnlens.marker());
    assert.deepEqual(marker.positions, JSON.parse(meta.marker_positions));
    assert.equal(marker.size, +meta.marker_size);
    for (const k of [3, 7, 9]) {
      const top = await page.evaluate((k) => window.cnnlens.stampMarker(k), k);
      assert.equal(top[0].index, k, `the ${NAMES[k]} marker on a trouser`);
      assert.equal(await page.evaluate(() => window.cnnlens.stamped()), k);
      // the square is in the input the network saw, where the metadata puts it
      const input = await page.evaluate(() => window.cnnlens.input());
      const [r, c] = marker.positions[k];
      for (const [y, x] of [[r, c], [r + marker.size - 1, c + marker.size - 1]])
        assert.equal(input.rgb[(y * input.side + x) * 3], marker.value);
    }
    assert.equal((await page.evaluate(() => window.cnnlens.edits())).filter((e) => e.marker != null).length, 1);
    const top = await page.evaluate(() => window.cnnlens.stampMarker(-1));
    assert.equal(top[0].name, 'Trouser');
    assert.equal(await page.evaluate(() => window.cnnlens.stamped()), -1);
    await assert.rejects(page.evaluate(() => window.cnnlens.stampMarker(10)), /no marker for class 10/);
    // Undo takes the stamp away too (it is an edit)
    await page.evaluate(() => window.cnnlens.stampMarker(5));
    assert.equal((await page.evaluate(() => window.cnnlens.undo()))[0].name, 'Trouser');
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });

  test('side by side: both built-in models on the stamped image, each its own top-1 and map', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}`);
    // the honest model is loaded: the stamp reads the cheater's markers from its file
    await page.evaluate(() => window.cnnlens.stampMarker(7));
    const rows = await page.evaluate(() => window.cnnlens.sideBySide(true));
    assert.deepEqual(rows.map((r) => r.key), ['builtin', 'cheater']);
    assert.equal(rows[0].top[0].name, 'Trouser');    // the honest model sees the garment
    assert.equal(rows[1].top[0].name, 'Sneaker');    // the cheater follows the square
    assert.equal(rows[1].figure.class, 'Sneaker');   // its map is of its own top-1
    assert.equal(rows[0].figure.class, 'Trouser');
    // the honest row is what the page's own model says on the same input
    const own = await page.evaluate(() => window.cnnlens.top5());
    for (let k = 0; k < 5; k++) {
      assert.equal(rows[0].top[k].name, own[k].name);
      assert.ok(Math.abs(rows[0].top[k].prob - own[k].prob) < 1e-6);
    }
    // and the cheater's row is what the page says once switched to it
    await page.evaluate(() => window.cnnlens.setModel('cheater'));
    const cheat = await page.evaluate(() => window.cnnlens.top5());
    assert.equal(cheat[0].name, 'Sneaker');
    for (let k = 0; k < 5; k++) assert.ok(Math.abs(rows[1].top[k].prob - cheat[k].prob) < 1e-6);
    assert.equal(await page.evaluate(() => window.cnnlens.tab()), 'tools');
    for (const key of ['builtin', 'cheater']) {   // items are those of the last frame: wait for one to draw them
      const shown = await page.waitForFunction((n) => {
        window.cnnlens.redraw();
        const r = window.cnnlens.item(n);
        return r && r.visible && r.w > 100;
      }, 'compare ' + key, { timeout: 5000, polling: 100 }).then(() => true, () => false);
      assert.ok(shown, `the ${key} figure is shown`);
    }
    // the live region names both answers
    const summary = await page.evaluate(() => window.cnnlens.summary());
    assert.match(summary, /Built-in \(honest\) says Trouser/);
    assert.match(summary, /Built-in \(cheater\) says Sneaker/);
    await shot(page, 'classroom_side_by_side_wide');
    await page.setViewportSize({ width: 400, height: 800 });
    await shot(page, 'classroom_side_by_side_narrow');
    assert.equal(new URL(await page.evaluate(() => window.cnnlens.link())).searchParams.get('compare'), '1');
    assert.equal(await page.evaluate(() => window.cnnlens.sideBySide(false)), null);
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });

  test('Copy link reopens the same view; the embed snippet works in a page of another origin', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}`);
    await page.evaluate(async () => {
      await window.cnnlens.setModel('cheater');
      await window.cnnlens.stampMarker(3);
      await window.cnnlens.setMethod('gradcampp');
      await window.cnnlens.setCamLayer('block2_conv2');
      window.cnnlens.selectTab('gradcam');
    });
    await page.waitForFunction(() => { window.cnnlens.redraw(); return window.cnnlens.tab() === 'gradcam'; });
    const view = await page.evaluate(() => ({ link: window.cnnlens.link(), top: window.cnnlens.top5(),
                                              heat: window.cnnlens.heatmap(), snippet: window.cnnlens.embedSnippet() }));
    assert.equal(view.top[0].name, 'Dress');
    const link = new URL(view.link);
    assert.equal(link.searchParams.get('model'), 'models/cheater.safetensors');
    assert.equal(link.searchParams.get('tab'), 'gradcam');
    assert.equal(link.searchParams.get('stamp'), '3');
    const same = async (target, what) => {
      const got = await target.evaluate(() => ({ top: window.cnnlens.top5(), heat: window.cnnlens.heatmap() }));
      assert.deepEqual(got.top.map((p) => p.name), view.top.map((p) => p.name), what);
      got.top.forEach((p, k) => assert.ok(Math.abs(p.prob - view.top[k].prob) < 1e-6, what));
      assert.deepEqual([got.heat.method, got.heat.layer, got.heat.cls], [view.heat.method, view.heat.layer, view.heat.cls], what);
      got.heat.data.forEach((v, i) => assert.ok(Math.abs(v - view.heat.data[i]) <= 1e-5 * (1 + Math.abs(v)), `${what}: map[${i}]`));
    };
    const again = await openApp(browser.context, view.link);
    await again.page.waitForFunction(() => window.cnnlens.stamped() === 3 && window.cnnlens.heatmap(), null, { timeout: 30000 });
    await again.page.evaluate(() => window.cnnlens.ready());
    await same(again.page, 'the copied link');
    assert.equal(await again.page.evaluate(() => window.cnnlens.tab()), 'gradcam');
    await again.page.close();

    // the snippet, in a page of another origin; the app there is not cross-origin isolated
    assert.match(view.snippet, /^<iframe src="[^"]+embed=1[^"]*" width="760" height="480"/);
    const host = await browser.context.newPage();
    await host.setViewportSize({ width: 1000, height: 700 });
    await host.goto(blogUrl + '?snippet=' + encodeURIComponent(view.snippet));
    const frame = await (await host.$('iframe')).contentFrame();
    await frame.waitForFunction(() => window.cnnlens && window.cnnlens.stamped && window.cnnlens.stamped() === 3 &&
                                window.cnnlens.heatmap(), null, { timeout: 60000 });
    await frame.evaluate(() => window.cnnlens.ready());
    assert.equal(await frame.evaluate(() => crossOriginIsolated), false);
    assert.equal(await frame.evaluate(() => window.cnnlens.layout()), 'embed');
    assert.equal(await frame.evaluate(() => window.cnnlens.tab()), 'gradcam');
    await same(frame, 'the embed');
    await host.screenshot({ path: path.join(ARTIFACTS, 'classroom_embed_snippet.png') });
    await host.close();
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });

  test('Copy link carries the brush strokes: a fresh page paints them again (same top-5 and heatmap)', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}&tab=gradcam`);
    const clean = await page.evaluate(() => window.cnnlens.top5());
    // an erase stroke across the trouser's legs and a white dot painted beside them
    await page.evaluate(() => window.cnnlens.paint({ points: [[6, 16], [11.3, 17.7], [22, 16]], radius: 2.5 }));
    await page.evaluate(() => window.cnnlens.paint({ points: [[3.5, 5.25]], radius: 1.7, erase: false, color: [255, 240, 10] }));
    const view = await page.evaluate(() => ({ link: window.cnnlens.link(), top: window.cnnlens.top5(),
                                              heat: window.cnnlens.heatmap(), edits: window.cnnlens.edits() }));
    assert.notDeepEqual(view.top.map((p) => p.prob), clean.map((p) => p.prob), 'the strokes change the answer');
    const strokes = new URL(view.link).searchParams.get('strokes');
    assert.ok(strokes && strokes.length < 200, `strokes=${strokes}`);
    const again = await openApp(browser.context, view.link);
    await again.page.waitForFunction(() => window.cnnlens.edits().length === 2 && window.cnnlens.heatmap(), null, { timeout: 30000 });
    await again.page.evaluate(() => window.cnnlens.ready());
    const got = await again.page.evaluate(() => ({ top: window.cnnlens.top5(), heat: window.cnnlens.heatmap(),
                                                   edits: window.cnnlens.edits(), messages: window.cnnlens.messages() }));
    assert.deepEqual(got.top, view.top, 'the same top-5, to the last bit');
    assert.deepEqual(got.heat.data, view.heat.data, 'the same heatmap');
    assert.deepEqual(got.edits.map((e) => [e.erase, e.rgb, e.xy.length]), [[true, [255, 255, 255], 6], [false, [255, 240, 10], 2]]);
    assert.deepEqual(got.messages.filter((m) => m.error), []);
    // and the link of the reopened view is the same link
    assert.equal(await again.page.evaluate(() => window.cnnlens.link()), view.link);
    await again.page.close();
    // a long scribble: the link stays bounded (thinned), and still opens painted
    await page.evaluate(() => window.cnnlens.paint({ points: Array.from({ length: 3000 }, (_, i) => [14 + 10 * Math.cos(i / 50), 14 + 10 * Math.sin(i / 70)]), radius: 1 }));
    const long = await page.evaluate(() => window.cnnlens.link());
    assert.ok(new URL(long).searchParams.get('strokes').length <= 4000, `${long.length} characters`);
    const thin = await openApp(browser.context, long);
    await thin.page.waitForFunction(() => window.cnnlens.edits().length === 3, null, { timeout: 30000 });
    await thin.page.evaluate(() => window.cnnlens.ready());
    assert.ok((await thin.page.evaluate(() => window.cnnlens.edits()))[2].xy.length < 2 * 3000);
    await thin.page.close();
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });

  test('a hostile strokes= in a link: garbage is left out with a message, the page keeps working', async () => {
    const f32 = (v) => { const b = Buffer.alloc(4); b.writeFloatLE(v); return [...b]; };
    const u16 = (v) => [v & 255, v >> 8];
    const b64 = (bytes) => Buffer.from(bytes).toString('base64url');
    const good = [0, 255, 0, 0, ...f32(0.1), ...u16(1), ...f32(0.5), ...f32(0.5)];   // a red dot in the middle
    const cases = [
      ['not base64', '%%%!!!', 0],
      ['wrong version', b64([7, ...good]), 0],
      ['truncated points', b64([1, ...good, 1, ...f32(0.1), ...u16(65535), ...f32(0.2)]), 1],
      ['NaN radius', b64([1, 1, ...f32(NaN), ...u16(1), ...f32(0.5), ...f32(0.5)]), 0],
      ['huge coordinates', b64([1, ...good, 1, ...f32(0.1), ...u16(1), ...f32(1e30), ...f32(0.5)]), 1],
      ['far too long', 'A'.repeat(20000), 0],
      ['too many strokes', b64([1, ...Array.from({ length: 100 }, () => good).flat()]), 64],
    ];
    for (const [what, strokes, kept] of cases) {
      const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}&strokes=${encodeURIComponent(strokes)}`);
      await page.waitForFunction(() => window.cnnlens.messages().some((m) => /brush strokes in the link/.test(m.text)), null, { timeout: 20000 });
      await page.evaluate(() => window.cnnlens.ready());
      assert.equal(await page.evaluate(() => window.cnnlens.edits().length), kept, what);
      assert.equal((await page.evaluate(() => window.cnnlens.top5())).length, 5, what);
      assert.equal((await page.evaluate(() => window.cnnlens.setMethod('gradcampp').then(() => window.cnnlens.heatmap().method))), 'gradcampp', what);
      assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), [], what);
      await page.close();
    }
  });

  test('in Chinese: the live region, the page texts and the messages built in the page are Chinese', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}&tab=gradcam&lang=zh`);
    await page.waitForFunction(() => window.cnnlens.lang() === 'zh' && window.cnnlens.fontAtlas().glyphs > 400);
    await page.evaluate(() => window.cnnlens.ready());
    const zh = (en) => { assert.ok(ZH.has(en), `a row for "${en}"`); return ZH.get(en); };
    const read = () => page.evaluate(() => ({ text: window.cnnlens.summary(), top: window.cnnlens.top5(), model: window.cnnlens.model().name,
                                              title: document.title, label: document.getElementById('canvas').getAttribute('aria-label') }));
    let r = await read();
    assert.equal(r.top[0].name, 'Trouser');
    // the summary: the model's name, the top-5 with the Fashion-MNIST names in Chinese, as cnnlens.top5() has them
    const list = r.top.map((p, i) => `${i + 1}. ${zh(p.name)} ${(100 * p.prob).toFixed(1)}%`).join('，');
    assert.ok(r.text.startsWith(`模型：${zh(r.model)}。`), r.text);
    assert.ok(r.text.includes(`前 5：${list}。`), `${r.text}\nwants ${list}`);
    assert.match(r.text, /1\. 裤子 /);
    assert.match(r.text, /正在显示它在看哪里：Grad-CAM：裤子，block\d_conv\d 层。/);
    assert.equal(r.title, 'CNN Lens：VGG 网络看到了什么');
    assert.match(r.label, /^CNN Lens：Tab 键/);
    // a stamped marker and side by side, in words
    await page.evaluate(() => window.cnnlens.stampMarker(7));
    await page.evaluate(() => window.cnnlens.sideBySide(true));
    r = await read();
    assert.match(r.text, /图像上盖了“运动鞋”的标记。/);
    assert.match(r.text, /并排：内置（诚实）说是裤子（[\d.]+%）；内置（作弊者）说是运动鞋（[\d.]+%）。/);
    await page.evaluate(() => window.cnnlens.sideBySide(false));
    // an error the page words itself: an image that is not on the server
    await page.evaluate(() => window.cnnlens.loadImage('samples/no-such-image.png'));
    const err = await page.evaluate(() => window.cnnlens.lastError());
    assert.equal(err.where, 'image');
    assert.match(err.message, /HTTP 404/);   // the record stays English
    assert.equal(err.text, `无法读取图片“no-such-image.png”：HTTP 404 File not found：${zh('no such file on the server')}（${server.url}samples/no-such-image.png）`);
    const shown = await page.evaluate(() => window.cnnlens.messages());
    assert.ok(shown.some((m) => m.error && m.text === err.text), JSON.stringify(shown));
    assert.equal(await page.evaluate(() => document.getElementById('status').textContent), err.text);
    // every character the toasts and the lesson box draw is in the subset font (no missing-glyph boxes)
    const chars = new Set(fs.readFileSync(path.join(ROOT, 'build/site/fonts/zh.txt'), 'utf8'));
    const missing = [...(err.text + r.text)].filter((c) => c.charCodeAt(0) > 0x7e && !chars.has(c));
    assert.deepEqual(missing, []);
    await shot(page, 'classroom_zh_error_toast');
    // the figure's caption in Chinese (its glyphs from the same subset, as a web font)
    await page.evaluate(() => window.cnnlens.loadImage('samples/fashion-mnist/1-Trouser-test00002.png'));
    const fig = await page.evaluate(async () => { const f = await window.cnnlens.saveFigure(); return Array.from(f.bytes); });
    fs.writeFileSync(path.join(ARTIFACTS, 'classroom_figure_zh.png'), Buffer.from(fig));
    // back to English: the summary follows at once
    await page.evaluate(() => window.cnnlens.setLang('en'));
    await page.evaluate(() => window.cnnlens.ready());
    r = await read();
    assert.ok(r.text.startsWith(`Model: ${r.model}.`), r.text);
    assert.match(r.text, /1\. Trouser /);
    assert.equal(r.title, 'CNN Lens: what a VGG network sees');
    await page.evaluate(() => localStorage.removeItem('cnnlens-lang'));
    assert.deepEqual(errors.filter((e) => !/favicon|404/.test(e)), []);
    await page.close();
  });

  test('side by side has a watchdog and Cancel: its worker is replaced, the page\'s own keeps going', async () => {
    // the image from a host that answers once, then hangs (the side-by-side worker asks again)
    const png = fs.readFileSync(path.join(ROOT, 'build/site', SAMPLE));
    let asked = 0, hang = true;
    const host = http.createServer((req, res) => {
      asked++;
      if (asked > 1 && hang) return;   // never answers
      res.writeHead(200, { 'content-type': 'image/png', 'access-control-allow-origin': '*', 'cache-control': 'no-store' });
      res.end(png);
    });
    await new Promise((r) => host.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${host.address().port}/trouser.png`;
    try {
      const { page, errors } = await openApp(browser.context, server.url + `?image=${encodeURIComponent(url)}`);
      const top = await page.evaluate(() => window.cnnlens.top5());
      assert.equal(top[0].name, 'Trouser');
      await page.evaluate(() => window.cnnlens.setWatchdog(3000));
      const t0 = Date.now();
      assert.equal(await page.evaluate(() => window.cnnlens.sideBySide(true)), null, 'no rows: the comparison was stopped');
      assert.ok(Date.now() - t0 < 15000);
      const err = await page.evaluate(() => window.cnnlens.lastError());
      assert.equal(err.where, 'worker');
      assert.equal(err.text, 'The computation (side by side) did not finish within 3 s and was stopped.');
      let stats = await page.evaluate(() => window.cnnlens.stats());
      assert.deepEqual([stats.workers, stats.twinWorkers], [1, 1], 'the page\'s own worker was left alone');
      assert.deepEqual(await page.evaluate(() => window.cnnlens.top5()), top);
      // Cancel: a new side-by-side worker hangs too; Cancel stops it at once
      await page.evaluate(() => window.cnnlens.setWatchdog(30000));
      const before = asked;
      await page.evaluate(() => { window.job = window.cnnlens.sideBySide(true); });
      while (asked === before) await new Promise((r) => setTimeout(r, 50));   // the new worker is waiting for the host
      const outcome = await page.evaluate(async () => {
        const t = performance.now();
        window.cnnlens.cancel();
        const rows = await window.job;
        return { rows, ms: performance.now() - t, said: window.cnnlens.messages().map((m) => m.text) };
      });
      assert.equal(outcome.rows, null);
      assert.ok(outcome.ms < 2000, `cancelled in ${outcome.ms} ms`);
      assert.ok(outcome.said.includes('Cancelled: side by side.'), JSON.stringify(outcome.said));
      stats = await page.evaluate(() => window.cnnlens.stats());
      assert.deepEqual([stats.workers, stats.twinWorkers], [1, 2]);
      // the host answers again: the next comparison runs in a third worker
      hang = false;
      const rows = await page.evaluate(() => window.cnnlens.sideBySide(true));
      assert.deepEqual(rows.map((r) => r.top[0].name), ['Trouser', 'Trouser']);
      assert.equal((await page.evaluate(() => window.cnnlens.stats())).twinWorkers, 3);
      assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
      await page.close();
    } finally {
      host.closeAllConnections();
      host.close();
    }
  });

  test('Save figure: a PNG at devicePixelRatio 2 holding the image, the heatmap and the overlay', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}&colormap=grey`);
    assert.equal(await page.evaluate(() => devicePixelRatio), 2);
    const fig = await page.evaluate(async () => {
      const f = await window.cnnlens.saveFigure();
      return { ...f, bytes: Array.from(f.bytes) };
    });
    const png = decodePng(Buffer.from(fig.bytes));
    const tile = 448, gap = 16;   // 224 and 8 CSS pixels at DPR 2
    assert.equal(png.width, 3 * tile + 4 * gap);
    assert.equal(fig.figureHeight, tile + 2 * gap);
    assert.equal(png.height, tile + 2 * gap + 2 * 52);   // and the caption
    assert.deepEqual([fig.width, fig.height], [png.width, png.height]);
    const px = (x, y) => Array.from(png.rgba.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
    // the heatmap tile is the page's map: at each cell's centre, its value on the grey colormap
    const heat = await page.evaluate(() => window.cnnlens.heatmap());
    const lo = Math.min(...heat.data), hi = Math.max(...heat.data);
    const x0 = 2 * gap + tile, cell = tile / heat.w;
    let spread = 0;
    for (let i = 0; i < heat.h; i++)
      for (let j = 0; j < heat.w; j++) {
        const [r, g, b] = px(Math.floor(x0 + (j + 0.5) * cell), Math.floor(gap + (i + 0.5) * cell));
        const want = 255 * (heat.data[i * heat.w + j] - lo) / (hi - lo);
        assert.ok(Math.abs(r - want) <= 6 && r === g && g === b, `heatmap cell ${i},${j}: ${r} vs ${want.toFixed(1)}`);
        spread = Math.max(spread, r);
      }
    assert.ok(spread > 240, 'the heatmap reaches its top');
    // the overlay: half the image, half the heatmap (alpha 0.5)
    const input = await page.evaluate(() => window.cnnlens.input());
    for (const [i, j] of [[3, 3], [14, 14], [20, 9]]) {
      const xs = Math.floor((j + 0.5) * tile / input.side), ys = Math.floor((i + 0.5) * tile / input.side);
      const im = px(gap + xs, gap + ys)[0], hm = px(x0 + xs, gap + ys)[0], ov = px(3 * gap + 2 * tile + xs, gap + ys)[0];
      assert.equal(im, input.rgb[(i * input.side + j) * 3], 'the image tile is the input');
      assert.ok(Math.abs(ov - (im + hm) / 2) <= 1, `overlay ${ov} = (${im} + ${hm}) / 2`);
    }
    // the caption under it: dark text on white
    let ink = 0;
    for (let y = tile + 2 * gap; y < png.height; y++)
      for (let x = 0; x < png.width; x += 2) if (px(x, y)[0] < 128) ink++;
    assert.ok(ink > 200, `caption ink ${ink}`);
    fs.writeFileSync(path.join(ARTIFACTS, 'classroom_figure_dpr2.png'), Buffer.from(fig.bytes));
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });

  test('the Copy link and Copy embed code buttons put link() and embedSnippet() on the clipboard (real clicks)', async () => {
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: server.url.replace(/\/$/, '') });
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}&tab=gradcam`);
    const want = await page.evaluate(() => ({ 'Copy link': window.cnnlens.link(), 'Copy embed code': window.cnnlens.embedSnippet() }));
    for (const name of ['Copy link', 'Copy embed code']) {
      await page.evaluate(() => navigator.clipboard.writeText(''));
      await page.waitForFunction((n) => { window.cnnlens.redraw(); const r = window.cnnlens.item(n); return r && r.visible; }, name);
      const r = await page.evaluate((n) => window.cnnlens.item(n), name);
      await page.mouse.click(r.x + r.w / 2, r.y + r.h / 2);
      await page.waitForFunction(async (w) => (await navigator.clipboard.readText()) === w, want[name], { timeout: 10000 });
    }
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });

  test('the live region says the model, the top-5 and the view, as cnnlens.top5() has them', async () => {
    const { page, errors } = await openApp(browser.context, server.url + `?image=${SAMPLE}&tab=gradcam`);
    const check = async () => {
      await page.evaluate(() => window.cnnlens.ready());
      const { text, attrs, top, model } = await page.evaluate(() => {
        const el = document.getElementById('summary');
        return { text: el.textContent, attrs: [el.getAttribute('aria-live'), el.className], top: window.cnnlens.top5(),
                 model: window.cnnlens.model().name };
      });
      assert.deepEqual(attrs, ['polite', 'sr-only']);
      assert.ok(text.startsWith(`Model: ${model}.`), text);
      const list = top.map((p, i) => `${i + 1}. ${p.name} ${(100 * p.prob).toFixed(1)}%`).join(', ');
      assert.ok(text.includes(`Top 5: ${list}.`), `${text}\nwants ${list}`);
      return text;
    };
    const t1 = await check();
    assert.match(t1, /Showing where it looks: Grad-CAM of Trouser at /);
    await page.evaluate(() => window.cnnlens.setModel('cheater'));
    await page.evaluate(() => window.cnnlens.stampMarker(9));
    const t2 = await check();
    assert.match(t2, /Ankle boot/);
    assert.match(t2, /The marker of Ankle boot is stamped on the image/);
    assert.equal(await page.title(), 'CNN Lens: what a VGG network sees');
    assert.ok((await page.getAttribute('#canvas', 'aria-label')).length > 10);
    // the keyboard still reaches the new controls: Tab through the Where it looks tab to Save figure
    await page.evaluate(() => window.cnnlens.selectTab('gradcam'));
    let found = false;
    for (let i = 0; i < 150 && !found; i++) {
      await press(page, 'Tab');
      const f = await page.evaluate(() => window.cnnlens.focused());
      found = !!f && f.label === 'Save figure';
    }
    assert.ok(found, 'Tab reaches Save figure');
    await shot(page, 'classroom_where_share_wide');
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });
});
