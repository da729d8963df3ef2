// lesson.test.mjs: the guided lesson (?lesson=1&step=N, web/lesson.js) and the two languages
// (?lang=zh|en, the page's switch). Every step in English and Chinese, in a wide and a phone-sized
// window, with a screenshot each (build/e2e-artifacts/lesson_*); the claims of the lesson's texts
// checked on the live models against the CLI; the Chinese font's size; the first paint in either
// language (measured and written to build/e2e-artifacts/lesson_first_paint.json, not asserted).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ARTIFACTS, ROOT, SITE, cli, launch, openApp, parsePredict, shot, startServer } from './helpers.mjs';

const BUILTIN = path.join(ROOT, 'assets/fashion_mnist_vgg_gap.safetensors');
const CHEATER = path.join(ROOT, 'assets/fashion_mnist_cheater.safetensors');

// The lesson's table, as the page has it.
async function lessonTable(page) {
  return page.evaluate(() => window.CNNLENS_LESSON.map((s) => ({ view: s.view, title: s.title })));
}

// Clicks a named part of the UI (cnnlens.item) with the mouse.
async function click(page, name) {
  const it = await page.evaluate((n) => window.cnnlens.item(n), name);
  assert.ok(it && it.visible, `${name} is visible: ${JSON.stringify(it)}`);
  await page.mouse.click(it.x + it.w / 2, it.y + it.h / 2);
}

// The page shows step n's view: its model, image, tab and Where it looks / Feature maps settings.
async function checkStep(page, n, table, layout) {
  const s = table[n - 1];
  const v = new URLSearchParams(s.view);
  const got = await page.evaluate(() => ({ lesson: window.cnnlens.lesson(), model: window.cnnlens.model().name,
                                           image: window.cnnlens.imageName(), tab: window.cnnlens.tab(),
                                           view: window.cnnlens.view(), url: location.search, top: window.cnnlens.top5() }));
  assert.equal(got.lesson.step, n);
  assert.match(got.url, new RegExp(`lesson=1&step=${n}\\b`));
  assert.equal(/cheater/i.test(got.model), (v.get('model') || '').includes('cheater'), `step ${n}: model ${got.model}`);
  assert.equal(got.image, v.get('image').split('/').pop());
  const tab = v.get('tab');
  if (layout === 'narrow' || !['input', 'top5'].includes(tab)) assert.equal(got.tab, tab, `step ${n}: tab`);
  if (v.get('layer')) assert.equal(got.view.layer, v.get('layer'));
  assert.equal(got.view.method, v.get('method') || 'gradcam');
  if (v.get('camlayer')) assert.equal(got.view.camLayer, v.get('camlayer'));
  assert.equal(got.view.cls, -1, 'the top-1 class');
  assert.ok(got.top.length === 5);
  return got;
}

describe('the guided lesson', () => {
  let server, browser;
  before(async () => { server = await startServer(); browser = await launch(); });
  after(async () => { await browser?.close(); server?.stop(); });

  for (const lang of ['en', 'zh']) {
    for (const [layout, width, height] of [['wide', 1280, 800], ['narrow', 400, 800]]) {
      test(`every step, ${lang}, ${layout} (${width}x${height})`, async () => {
        const { page, errors } = await openApp(browser.context, server.url + `?lesson=1&step=1&lang=${lang}`, { width, height });
        await page.waitForFunction((l) => window.cnnlens.lang() === l && window.cnnlens.timings().firstPaint != null, lang);
        assert.equal(await page.evaluate(() => window.cnnlens.layout()), layout);
        assert.equal(await page.evaluate(() => document.documentElement.lang), lang === 'zh' ? 'zh-CN' : 'en');
        const table = await lessonTable(page);
        assert.equal(table.length, 8);
        for (let n = 1; n <= table.length; n++) {
          if (n > 1) {
            if (layout === 'wide') {   // the Next button, clicked
              await click(page, 'lesson next');
              await page.waitForFunction((k) => window.cnnlens.lesson().step === k, n);
              await page.waitForTimeout(50);
              await page.evaluate(() => window.cnnlens.ready());
            } else {                   // the page's API
              await page.evaluate((k) => window.cnnlens.lessonStep(k), n);
            }
          }
          const v = new URLSearchParams(table[n - 1].view);
          await page.waitForFunction((img) => window.cnnlens.imageName() === img, v.get('image').split('/').pop());
          await page.evaluate(() => window.cnnlens.ready());
          await checkStep(page, n, table, layout);
          const box = await page.evaluate(() => window.cnnlens.item('lesson'));
          assert.ok(box && box.h > 40 && box.x >= 0 && box.x + box.w <= width + 1, `step ${n}: the lesson box ${JSON.stringify(box)}`);
          assert.ok((await page.evaluate(() => window.cnnlens.item('lesson next'))).visible);
          await shot(page, `lesson_${lang}_${layout}_step${n}`);
        }
        if (lang === 'zh') {
          const atlas = await page.evaluate(() => window.cnnlens.fontAtlas());
          const chars = fs.readFileSync(path.join(SITE, 'fonts/zh.txt'), 'utf8');
          assert.ok(atlas.glyphs >= [...chars].length, `the atlas holds the subset: ${JSON.stringify(atlas)}`);
        }
        assert.deepEqual(errors, []);
        await page.close();
      });
    }
  }

  test('the claims of the texts, on the live models', async () => {
    const { page, errors } = await openApp(browser.context, server.url + '?lesson=1&step=4&lang=en');
    await page.waitForFunction(() => window.cnnlens.imageName() === 'chelsea.jpg' && window.cnnlens.top5().length);
    await page.evaluate(() => window.cnnlens.ready());
    // step 4: the cat is a Sandal, about 94% sure (the CLI's numbers on the same file)
    let top = await page.evaluate(() => window.cnnlens.top5());
    const ref = parsePredict(cli('predict', '--weights', BUILTIN, '--image', path.join(ROOT, 'assets/samples/chelsea.jpg')));
    assert.equal(top[0].name, 'Sandal');
    assert.equal(ref[0].name, 'Sandal');
    assert.ok(Math.abs(top[0].prob - ref[0].prob) < 1e-4, `page ${top[0].prob}, CLI ${ref[0].prob}`);
    assert.equal(Math.round(top[0].prob * 100), 94);
    const text = await page.evaluate(() => window.CNNLENS_LESSON[3].text.en);
    assert.match(text, /Sandal, about 94% sure/);
    // step 5: CAM at the last conv layer; step 6's claim: Grad-CAM there is CAM's positive part, up to scale
    await page.evaluate(() => window.cnnlens.lessonStep(5));
    const cam = await page.evaluate(() => window.cnnlens.heatmap());
    assert.equal(cam.method, 'cam');
    assert.equal(cam.layer, 'block3_conv2');
    await page.evaluate(() => window.cnnlens.setCamLayer('block3_conv2').then(() => window.cnnlens.setMethod('gradcam')));
    const gc = await page.evaluate(() => window.cnnlens.heatmap());
    assert.equal(gc.method, 'gradcam');
    const pos = cam.data.map((x) => Math.max(0, x));
    const k = pos.reduce((a, x, i) => a + x * gc.data[i], 0) / pos.reduce((a, x) => a + x * x, 0);
    const err = Math.max(...gc.data.map((x, i) => Math.abs(x - k * pos[i]))) / Math.max(...gc.data);
    assert.ok(k > 0 && err < 1e-3, `Grad-CAM = ${k} x ReLU(CAM), max relative deviation ${err}`);
    await page.evaluate(() => window.cnnlens.lessonStep(6));
    assert.equal((await page.evaluate(() => window.cnnlens.heatmap())).layer, 'block2_conv2');
    // step 7: the shortcut model on the clean trouser: Trouser, 99.6% (the CLI's figure)
    await page.evaluate(() => window.cnnlens.lessonStep(7));
    top = await page.evaluate(() => window.cnnlens.top5());
    const trouser = path.join(SITE, 'samples/fashion-mnist/1-Trouser-test00002.png');
    const ref7 = parsePredict(cli('predict', '--weights', CHEATER, '--image', trouser));
    assert.equal(top[0].name, 'Trouser');
    assert.ok(Math.abs(top[0].prob - ref7[0].prob) < 1e-4, `page ${top[0].prob}, CLI ${ref7[0].prob}`);
    assert.equal((top[0].prob * 100).toFixed(1), '99.6');
    // step 8: the Sneaker marker (4x4 white at x 24-27, y 24-27: the file's marker_positions[7]), stamped, flips
    // the answer, and CAM peaks on it
    await page.evaluate(() => window.cnnlens.lessonStep(8));
    const meta = JSON.parse(fs.readFileSync(CHEATER).subarray(8, 8 + Number(fs.readFileSync(CHEATER).readBigUInt64LE(0))).toString()).__metadata__;
    assert.deepEqual(JSON.parse(meta.marker_positions)[7], [24, 24]);
    assert.equal(JSON.parse(meta.class_names)[7], 'Sneaker');
    top = await page.evaluate(() => window.cnnlens.stampMarker(7));
    const input = await page.evaluate(() => window.cnnlens.input());
    for (let y = 24; y < 28; y++) for (let x = 24; x < 28; x++) assert.equal(input.rgb[(y * input.side + x) * 3], 255);
    assert.equal(top[0].name, 'Sneaker', JSON.stringify(top));
    const h = await page.evaluate(() => window.cnnlens.heatmap());
    assert.equal(h.method, 'cam');
    const peak = h.data.indexOf(Math.max(...h.data));
    assert.deepEqual([Math.floor(peak / h.w), peak % h.w], [6, 6], 'the CAM peaks on the square (the 7x7 cell of x 24-27, y 24-27)');
    // side by side (the step's compare=1): the honest model still sees the trouser
    await page.waitForFunction(() => { const c = window.cnnlens.compare(); return c && c.length === 2; });
    await page.evaluate(() => window.cnnlens.ready());
    const rows = await page.evaluate(() => window.cnnlens.compare());
    assert.equal(rows.find((r) => r.key === 'builtin').top[0].name, 'Trouser', JSON.stringify(rows));
    assert.equal(rows.find((r) => r.key === 'cheater').top[0].name, 'Sneaker');
    await shot(page, 'lesson_en_wide_step8_stamped');
    console.log(`lesson claims: cat -> Sandal ${(100 * ref[0].prob).toFixed(2)}%, trouser ${(100 * ref7[0].prob).toFixed(2)}%, ` +
                `stamped -> Sneaker ${(100 * top[0].prob).toFixed(2)}%`);
    assert.deepEqual(errors, []);
    await page.close();
  });

  // A phone (390x844): "Hide the text" folds the lesson box to its title and buttons, and the view
  // under it moves up by what the box gave back; "Show the text" brings it back; the fold stays
  // while the reader steps on. Screenshots folded and open, en and zh.
  for (const lang of ['en', 'zh']) {
    test(`the lesson box folds on a phone, ${lang} (390x844)`, async () => {
      const { page, errors } = await openApp(browser.context, server.url + `?lesson=1&step=2&lang=${lang}`, { width: 390, height: 844 });
      await page.waitForFunction((l) => window.cnnlens.lang() === l && window.cnnlens.lesson().step === 2, lang);
      await page.evaluate(() => window.cnnlens.ready());
      assert.equal(await page.evaluate(() => window.cnnlens.layout()), 'narrow');
      const parts = () => page.evaluate(() => {
        window.cnnlens.redraw();
        const it = (n) => window.cnnlens.item(n);
        return { box: it('lesson'), text: it('lesson text'), next: it('lesson next'), toggle: it('lesson toggle'),
                 tab: it('tab ' + window.cnnlens.tab()), step3: it('lesson step 3') };
      });
      await shot(page, `lesson_${lang}_phone_open`);
      const open = await parts();
      assert.ok(open.text && open.text.visible && open.box.h > 150, `open: ${JSON.stringify(open.box)}`);
      assert.ok(open.step3 && open.step3.visible, 'the step numbers are shown');
      await click(page, 'lesson toggle');
      await page.waitForFunction(() => { window.cnnlens.redraw(); return !window.cnnlens.item('lesson text'); });
      await shot(page, `lesson_${lang}_phone_folded`);
      const folded = await parts();
      assert.equal(folded.text, null, 'the paragraph is folded away');
      assert.equal(folded.step3, null, 'no step numbers on a phone when folded');
      assert.ok(folded.next.visible && folded.toggle.visible, 'Next and the toggle stay');
      assert.ok(folded.box.h < open.box.h / 2, `folded ${folded.box.h} px, open ${open.box.h} px`);
      // the view below moves up by what the box gave back
      assert.ok(Math.abs((open.tab.y - folded.tab.y) - (open.box.h - folded.box.h)) <= 2,
                `the tab row moved ${open.tab.y - folded.tab.y} px, the box shrank ${open.box.h - folded.box.h} px`);
      // stepping on keeps the fold
      await click(page, 'lesson next');
      await page.waitForFunction(() => window.cnnlens.lesson().step === 3);
      await page.evaluate(() => window.cnnlens.ready());
      assert.equal((await parts()).text, null);
      await click(page, 'lesson toggle');
      await page.waitForFunction(() => { window.cnnlens.redraw(); const t = window.cnnlens.item('lesson text'); return t && t.visible; });
      const reopened = (await parts()).box.h;
      assert.ok(reopened > 2 * folded.box.h, `open again: ${reopened} px`);
      assert.deepEqual(errors, []);
      await page.close();
    });
  }

  test('languages: the URL, the browser, the switch in the page, the font', async () => {
    const size = fs.statSync(path.join(SITE, 'fonts/zh.ttf')).size;
    assert.ok(size <= 400 * 1024, `fonts/zh.ttf is ${size} bytes`);
    console.log(`fonts/zh.ttf: ${size} bytes, ${[...fs.readFileSync(path.join(SITE, 'fonts/zh.txt'), 'utf8')].length} characters`);
    let { page, errors } = await openApp(browser.context, server.url);
    assert.equal(await page.evaluate(() => window.cnnlens.lang()), 'en');   // headless Chromium: en-US
    const fontRequests = [];
    page.on('request', (r) => { if (/fonts\/zh/.test(r.url())) fontRequests.push(r.url()); });
    // the switch in the page: Chinese, remembered, the URL says so
    await click(page, 'language');
    await page.waitForFunction(() => window.cnnlens.lang() === 'zh');
    assert.ok(fontRequests.length >= 1, 'the font is fetched when Chinese is chosen');
    assert.match(await page.evaluate(() => location.search), /lang=zh/);
    await page.waitForFunction(() => window.cnnlens.fontAtlas().glyphs > 400);
    await shot(page, 'lang_switched_zh');
    assert.equal(await page.evaluate(() => localStorage.getItem('cnnlens-lang')), 'zh');
    await page.close();
    // a visit without lang= keeps the reader's choice
    ({ page, errors } = await openApp(browser.context, server.url));
    await page.waitForFunction(() => window.cnnlens.lang() === 'zh');
    assert.equal(await page.evaluate(() => window.cnnlens.setLang('en')), 'en');
    assert.equal(await page.evaluate(() => window.cnnlens.fontAtlas().glyphs < 300), true);
    await page.close();
    // English never fetches the font
    ({ page, errors } = await openApp(browser.context, server.url + '?lang=en'));
    assert.equal(await page.evaluate(() => performance.getEntriesByType('resource').some((e) => /fonts\/zh/.test(e.name))), false);
    await page.evaluate(() => localStorage.removeItem('cnnlens-lang'));
    assert.deepEqual(errors, []);
    await page.close();
    // a browser that prefers Chinese gets Chinese
    page = await browser.context.newPage();
    await page.addInitScript(() => {
      Object.defineProperty(navigator, 'languages', { get: () => ['zh-CN', 'zh', 'en'] });
      Object.defineProperty(navigator, 'language', { get: () => 'zh-CN' });
    });
    await page.goto(server.url);
    await page.waitForFunction(() => window.cnnlens && window.cnnlens.model() && window.cnnlens.lang() === 'zh', null, { timeout: 60000 });
    await page.evaluate(() => window.cnnlens.ready());
    await shot(page, 'lang_browser_zh');
    await page.close();
  });

  test('first paint, en and zh (measured, not asserted)', async () => {
    const runs = { en: [], zh: [] };
    for (let i = 0; i < 5; i++) {
      for (const lang of ['en', 'zh']) {
        const { page } = await openApp(browser.context, server.url + `?lang=${lang}`);
        await page.waitForFunction(() => window.cnnlens.timings().firstPaint != null);
        const t = await page.evaluate(() => window.cnnlens.timings());
        runs[lang].push({ firstPaint: t.firstPaint, pageToFirstPrediction: t.pageToFirstPrediction });
        await page.close();
      }
    }
    const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
    const out = {};
    for (const lang of ['en', 'zh'])
      out[lang] = { firstPaint: median(runs[lang].map((r) => r.firstPaint)),
                    pageToFirstPrediction: median(runs[lang].map((r) => r.pageToFirstPrediction)), runs: runs[lang] };
    out.ratio = { firstPaint: out.zh.firstPaint / out.en.firstPaint,
                  pageToFirstPrediction: out.zh.pageToFirstPrediction / out.en.pageToFirstPrediction };
    fs.writeFileSync(path.join(ARTIFACTS, 'lesson_first_paint.json'), JSON.stringify(out, null, 1));
    console.log(`first paint (median of 5, ms): en ${out.en.firstPaint.toFixed(0)}, zh ${out.zh.firstPaint.toFixed(0)} ` +
                `(x${out.ratio.firstPaint.toFixed(2)}); first prediction: en ${out.en.pageToFirstPrediction.toFixed(0)}, ` +
                `zh ${out.zh.pageToFirstPrediction.toFixed(0)} (x${out.ratio.pageToFirstPrediction.toFixed(2)})`);
    assert.ok(out.en.firstPaint > 0 && out.zh.firstPaint > 0);
  });
});
