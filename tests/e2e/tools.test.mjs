// tools.test.mjs: the Tools tab ("Is the network cheating?") end to end in headless Chromium:
// the brush (real mouse drags on the canvas, and cnnlens.paint / undo / reset) changes the top-5
// and the heatmap; the page's occlusion map, faithfulness curves and sanity check equal the native
// CLI's (build/native/cnnlens) on the built-in model; the faithfulness plot, the sanity filmstrip
// and the pointing table are drawn in a wide (1280x800) and a narrow (420x800, a phone) window.
// Screenshots go to build/e2e-artifacts/tools_*.png. Timings are printed, not asserted.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, SITE, cli, launch, openApp, readNpy, shot, startServer } from './helpers.mjs';

const SAMPLE = 'samples/fashion-mnist/9-Ankle-boot-test00000.png';   // the gallery's, served with the page
const IMAGE = path.join(ROOT, 'assets/fashion-mnist/9-Ankle-boot-test00000.png');
const LAST_CONV = 'block3_conv2';

const maxAbsDiff = (a, b) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const consoleErrors = (errors) => errors.filter((e) => !/favicon/.test(e));

// A named part of the UI once drawn and visible (cnnlens.item), in CSS pixels.
async function item(page, name) {
  await page.waitForFunction((n) => { window.cnnlens.redraw(); const r = window.cnnlens.item(n); return r && r.visible; },
                             name, { timeout: 20000 });
  return page.evaluate((n) => window.cnnlens.item(n), name);
}
// The same, drawn but perhaps taller than the window (the panel scrolls).
async function drawn(page, name) {
  await page.waitForFunction((n) => { window.cnnlens.redraw(); return window.cnnlens.item(n); }, name, { timeout: 20000 });
  return page.evaluate((n) => window.cnnlens.item(n), name);
}
// Opens a section of the Tools tab by clicking its tab, as a reader would.
async function openSection(page, id) {
  assert.ok(await page.evaluate(() => window.cnnlens.selectTab('tools')));
  const r = await item(page, 'tool ' + id);
  await page.mouse.click(r.x + r.w / 2, r.y + r.h / 2);
  await page.waitForFunction(() => window.cnnlens.inputPending() === 0);
}
// The pixels of a region of the page (a screenshot decoded in the page): how many differ from the
// panel's background and how many distinct colours there are.
async function regionStats(page, r) {
  const vp = page.viewportSize();
  r = { x: Math.max(0, r.x), y: Math.max(0, r.y), w: Math.min(r.w, vp.width - r.x), h: Math.min(r.h, vp.height - r.y) };
  const png = await page.screenshot({ clip: { x: r.x, y: r.y, width: Math.max(1, r.w), height: Math.max(1, r.h) } });
  return page.evaluate(async (b64) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    const c = new OffscreenCanvas(bmp.width, bmp.height), g = c.getContext('2d');
    g.drawImage(bmp, 0, 0);
    const d = g.getImageData(0, 0, bmp.width, bmp.height).data;
    const colours = new Set();
    let busy = 0;
    for (let i = 0; i < d.length; i += 4) {
      colours.add((d[i] << 16) | (d[i + 1] << 8) | d[i + 2]);
      if (Math.abs(d[i] - d[0]) + Math.abs(d[i + 1] - d[1]) + Math.abs(d[i + 2] - d[2]) > 30) busy++;
    }
    // the palette's first two colours (the first two methods' curves), roughly
    const near = (r0, g0, b0) => {
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - r0) + Math.abs(d[i + 1] - g0) + Math.abs(d[i + 2] - b0) < 40) n++;
      return n;
    };
    return { colours: colours.size, busy, pixels: d.length / 4, blue: near(86, 180, 233), orange: near(230, 159, 0) };
  }, png.toString('base64'));
}

describe('CNN Lens Tools tab', { timeout: 300000 }, () => {
  let server, browser;
  before(async () => {
    assert.ok(fs.existsSync(path.join(SITE, 'index.html')), 'build/site is missing: run ./build.sh web');
    server = await startServer({ coi: true });
    browser = await launch();
  });
  after(async () => {
    if (browser) await browser.close();
    if (server) server.stop();
  });

  test('the brush: real drags on the canvas and cnnlens.paint change the top-5 and the heatmap; undo and reset',
       async () => {
    const { page, errors } = await openApp(browser.context, server.url + 'index.html?image=' + SAMPLE);
    const tools = await page.evaluate(() => window.cnnlens.model().tools.map((t) => t.name));
    assert.deepEqual(tools, ['occlusion', 'faithfulness', 'sanity', 'pointing']);   // the core's table
    await openSection(page, 'edit');
    const top0 = await page.evaluate(() => window.cnnlens.top5());
    const heat0 = await page.evaluate(() => window.cnnlens.heatmap().data);
    assert.equal(top0[0].name, 'Ankle boot');
    await shot(page, 'tools_edit_before');
    // erase the boot with three strokes across the canvas (the default brush: 2 px of 28)
    const c = await item(page, 'brush canvas');
    const results0 = await page.evaluate(() => window.cnnlens.stats().results);
    for (const fy of [0.45, 0.6, 0.75]) {
      await page.mouse.move(c.x + c.w * 0.1, c.y + c.h * fy);
      await page.mouse.down();
      for (let k = 1; k <= 12; k++) await page.mouse.move(c.x + c.w * (0.1 + 0.8 * k / 12), c.y + c.h * fy, { steps: 2 });
      await page.mouse.up();
      await page.waitForFunction(() => window.cnnlens.inputPending() === 0);
    }
    await page.waitForFunction(() => window.cnnlens.edits().length === 3, null, { timeout: 20000 });
    await page.evaluate(() => window.cnnlens.ready());
    const results1 = await page.evaluate(() => window.cnnlens.stats().results);
    console.log(`brush: 3 strokes, ${results1 - results0} forward passes while painting (live on the built-in model)`);
    assert.ok(results1 - results0 >= 3, 'the network ran again for each stroke');
    const top1 = await page.evaluate(() => window.cnnlens.top5());
    const heat1 = await page.evaluate(() => window.cnnlens.heatmap().data);
    const input1 = await page.evaluate(() => window.cnnlens.input());
    const p0 = Object.fromEntries(top0.map((p) => [p.index, p.prob])), p1 = Object.fromEntries(top1.map((p) => [p.index, p.prob]));
    console.log('top-5 before:', top0.map((p) => `${p.name} ${(100 * p.prob).toFixed(1)}%`).join(', '));
    console.log('top-5 after erasing:', top1.map((p) => `${p.name} ${(100 * p.prob).toFixed(1)}%`).join(', '));
    assert.ok(Math.abs(p0[9] - (p1[9] || 0)) > 0.01, 'the class probability changed');
    assert.ok(maxAbsDiff(heat0, heat1) > 1e-3, 'the heatmap changed');
    // the strokes are black (blank_rgb of this model) on the input the network saw, along the drags
    const row = Math.floor(0.6 * 28);
    const blackOnRow = [...Array(28).keys()].filter((x) => input1.rgb[3 * (row * 28 + x)] === 0).length;
    assert.ok(blackOnRow >= 20, `row ${row} erased: ${blackOnRow} black pixels`);
    await shot(page, 'tools_edit_after');

    // cnnlens.paint: a white blob; undo gives the three strokes' result back, reset the image as it came
    await page.evaluate(() => window.cnnlens.paint({ points: [[8, 8], [20, 8]], radius: 3, erase: false, color: [255, 255, 255] }));
    const top2 = await page.evaluate(() => window.cnnlens.top5());
    assert.notDeepEqual(top2.map((p) => p.prob), top1.map((p) => p.prob));
    assert.equal(await page.evaluate(() => window.cnnlens.edits().length), 4);
    const top3 = await page.evaluate(() => window.cnnlens.undo());
    assert.deepEqual(top3, top1);
    // Reset through its button
    const reset = await item(page, 'Reset');
    await page.mouse.click(reset.x + reset.w / 2, reset.y + reset.h / 2);
    await page.waitForFunction(() => window.cnnlens.edits().length === 0, null, { timeout: 20000 });
    await page.evaluate(() => window.cnnlens.ready());
    assert.deepEqual(await page.evaluate(() => window.cnnlens.top5()), top0);
    assert.deepEqual(await page.evaluate(() => window.cnnlens.heatmap().data), heat0);
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  test('occlusion of the built-in model through window.cnnlens and tool= equals the CLI\'s .npy; its time', async () => {
    const { page, errors } = await openApp(browser.context, server.url + 'index.html?image=' + SAMPLE);
    const model = await page.evaluate(() => window.cnnlens.model());
    assert.deepEqual(model.occlusion, { patch: 4, stride: 1 });   // the core's defaults for 28x28
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-occ-'));
    cli('occlusion', '--image', IMAGE, '--class', '9', '--patch', '4', '--stride', '1', '--dump-npy', dir);
    const prob = readNpy(path.join(dir, 'occlusion_c9.npy')), logit = readNpy(path.join(dir, 'occlusion_logit_c9.npy'));
    fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(prob.shape, [25, 25]);
    await page.evaluate(() => window.cnnlens.selectTab('tools'));
    const times = [];
    let o;
    for (let run = 0; run < 3; run++) {   // the first includes the worker's warm-up
      const r = await page.evaluate(async () => {
        const t0 = performance.now();
        const out = await window.cnnlens.tool('occlusion', { patch: 4, stride: 1, cls: 9 });
        const t1 = performance.now();
        // and until the UI has drawn the map
        const f0 = window.cnnlens.frames();
        await new Promise((res) => { const w = () => (window.cnnlens.frames() > f0 + 1 ? res() : requestAnimationFrame(w)); w(); });
        return { out, ms: t1 - t0, msDrawn: performance.now() - t0 };
      });
      o = r.out;
      times.push(r);
    }
    console.log('occlusion 28x28, patch 4, stride 1 (25x25 map), in the page: ' +
                times.map((t) => `${t.ms.toFixed(0)} ms (drawn ${t.msDrawn.toFixed(0)} ms; worker ${t.out.ms.toFixed(0)} ms)`).join(', ') +
                ' (target: within 1000 ms)');
    assert.equal(o.ny, 25);
    assert.equal(o.nx, 25);
    assert.equal(o.cls, 9);
    const dp = maxAbsDiff(o.prob, prob.data), dl = maxAbsDiff(o.logit, logit.data);
    console.log(`occlusion page vs CLI: max |diff| ${dp.toExponential(2)} (probability drops), ${dl.toExponential(2)} (logit drops)`);
    assert.ok(dp <= 1e-5, `probability drops within 1e-5: ${dp}`);
    assert.ok(dl <= 1e-4, `logit drops within 1e-4: ${dl}`);
    const m = await item(page, 'occlusion map');
    const stats = await regionStats(page, m);
    assert.ok(stats.colours > 100, `the map is drawn (${stats.colours} colours)`);
    await shot(page, 'tools_occlusion_wide');
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();

    // the same from a link: tab=tools&tool=occlusion&patch=4&stride=1&class=9
    const link = await openApp(browser.context, server.url +
      `index.html?image=${SAMPLE}&tab=tools&tool=occlusion&patch=4&stride=1&class=9`);
    await link.page.waitForFunction(() => window.cnnlens.toolResult('occlusion'), null, { timeout: 20000 });
    const fromLink = await link.page.evaluate(() => window.cnnlens.toolResult('occlusion'));
    assert.equal(fromLink.ny, 25);
    assert.equal(maxAbsDiff(fromLink.maps.slice(0, 625), o.prob), 0);
    assert.equal(await link.page.evaluate(() => window.cnnlens.tab()), 'tools');
    await item(link.page, 'occlusion map');
    await link.page.close();
  });

  test('Cancel stops a long tool: a new worker has the same model, image and strokes', async () => {
    const { page, errors } = await openApp(browser.context, server.url + 'index.html?image=' + SAMPLE);
    const painted = await page.evaluate(() => window.cnnlens.paint({ points: [[4, 14], [24, 14]], radius: 2 }));
    const workers = await page.evaluate(() => window.cnnlens.stats().workers);
    const t0 = Date.now();
    const outcome = await page.evaluate(async () => {
      const job = window.cnnlens.tool('faithfulness', { methods: ['gradcam', 'saliency'], steps: 784 }).then(() => 'finished', (e) => e.message);
      await new Promise((r) => setTimeout(r, 400));
      window.cnnlens.cancel();
      const said = window.cnnlens.messages().some((m) => /^Cancelled: Faithfulness/.test(m.text));   // an info message, for 8 s
      return [await job, said];
    });
    console.log(`cancel: the tool ${outcome[0]} after ${Date.now() - t0} ms`);
    assert.deepEqual(outcome, ['cancelled', true]);
    await page.evaluate(() => window.cnnlens.ready());
    assert.equal(await page.evaluate(() => window.cnnlens.stats().workers), workers + 1);
    assert.deepEqual(await page.evaluate(() => window.cnnlens.top5()), painted);   // the stroke is back
    assert.equal(await page.evaluate(() => window.cnnlens.edits().length), 1);
    const o = await page.evaluate(() => window.cnnlens.tool('occlusion', {}));
    assert.equal(o.ny, 25);
    assert.deepEqual(consoleErrors(errors), []);
    await page.close();
  });

  for (const [width, height, name] of [[1280, 800, 'wide'], [420, 800, 'narrow']]) {
    test(`faithfulness curves and AUCs equal the CLI's, the sanity filmstrip and the pointing table render (${name})`,
         async () => {
      const { page, errors } = await openApp(browser.context, server.url + 'index.html?image=' + SAMPLE, { width, height });
      assert.equal(await page.evaluate(() => window.cnnlens.layout()), name);
      await openSection(page, 'faithfulness');
      const f = await page.evaluate((layer) => window.cnnlens.tool('faithfulness',
        { methods: ['gradcam', 'saliency'], steps: 20, cls: 9, layer }), LAST_CONV);
      assert.equal(f.curves.length, 2);
      for (const c of f.curves) {
        assert.equal(c.fraction.length, 21);
        assert.equal(c.deletion.length, 21);
        assert.equal(c.insertion.length, 21);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-faith-'));
        const out = cli('faithfulness', '--image', IMAGE, '--class', '9', '--method', c.method, '--layer', LAST_CONV,
                        '--steps', '20', '--csv', path.join(dir, 'f.csv'));
        const rows = fs.readFileSync(path.join(dir, 'f.csv'), 'utf8').trim().split('\n');
        fs.rmSync(dir, { recursive: true, force: true });
        const auc = rows[rows.length - 1].split(',');
        console.log(`${name}: ${c.method} AUC page deletion ${c.deletion_auc.toFixed(6)} insertion ${c.insertion_auc.toFixed(6)}; ` +
                    `CLI ${(+auc[2]).toFixed(6)} ${(+auc[3]).toFixed(6)}`);
        assert.ok(Math.abs(c.deletion_auc - +auc[2]) <= 1e-4);
        assert.ok(Math.abs(c.insertion_auc - +auc[3]) <= 1e-4);
        for (let i = 0; i <= 20; i++) {
          const v = rows[i + 1].split(',');
          assert.ok(Math.abs(c.deletion[i] - +v[2]) <= 1e-4 && Math.abs(c.insertion[i] - +v[3]) <= 1e-4, `point ${i}`);
        }
        // the random ranking (seed 1), as the CLI prints it
        const rnd = out.match(/deletion AUC [\d.]+ \(random ranking ([\d.]+)\), insertion AUC [\d.]+ \(random ([\d.]+)\)/);
        assert.ok(Math.abs(f.random.deletion_auc - +rnd[1]) <= 1e-4 && Math.abs(f.random.insertion_auc - +rnd[2]) <= 1e-4);
      }
      assert.ok(f.curves[0].deletion_auc < f.random.deletion_auc, 'Grad-CAM deletes faster than random');
      const plot = await item(page, 'faithfulness plot');
      assert.ok(plot.x + plot.w <= width + 0.5, 'the plot fits the window');
      const ps = await regionStats(page, plot);
      console.log(`${name}: faithfulness plot ${Math.round(plot.w)}x${Math.round(plot.h)} px: ${ps.blue} px of the first curve's colour, ${ps.orange} of the second's`);
      assert.ok(ps.blue > 50 && ps.orange > 50, 'both methods\' curves are drawn');
      await drawn(page, 'faithfulness legend saliency');
      await shot(page, `tools_faithfulness_${name}`);

      await openSection(page, 'sanity');
      const s = await page.evaluate((layer) => window.cnnlens.tool('sanity', { seed: 1, cls: 9, layer }), LAST_CONV);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-sanity-'));
      cli('sanity', '--image', IMAGE, '--class', '9', '--layer', LAST_CONV, '--seed', '1', '--csv', path.join(dir, 's.csv'));
      const rows = fs.readFileSync(path.join(dir, 's.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(','));
      fs.rmSync(dir, { recursive: true, force: true });
      assert.equal(s.rows.length, rows.length);
      let worst = 0;
      s.rows.forEach((r, i) => {
        assert.equal(r.method, rows[i][2]);
        assert.equal(r.randomised_to, rows[i][1]);
        worst = Math.max(worst, Math.abs(r.spearman - +rows[i][3]));
      });
      console.log(`${name}: sanity ${s.rows.length} rows, Spearman page vs CLI max |diff| ${worst.toExponential(2)}; survivors: ${s.survivors.join(', ')}`);
      assert.ok(worst <= 1e-4);
      assert.ok(s.survivors.includes('guided_backprop'), 'guided backprop survives (Adebayo et al.)');
      assert.ok(!s.survivors.includes('gradcam'));
      const strip = await drawn(page, 'sanity filmstrip');
      assert.ok(strip.x + strip.w <= width + 0.5, 'the filmstrip fits the window');
      const last = await drawn(page, 'sanity gradcam 7');
      assert.ok(last.w >= 20 && last.x + last.w <= width + 0.5, 'the last step is drawn, in the window');
      const ss = await regionStats(page, strip);
      assert.ok(ss.colours > 200, `the filmstrip's maps are drawn (${ss.colours} colours)`);
      await shot(page, `tools_sanity_${name}`);

      await openSection(page, 'pointing');
      const p = await page.evaluate(() => window.cnnlens.tool('pointing', { cls: 9 }));
      assert.ok(p.rows.length >= 11);   // the layer maps and the input gradients
      assert.equal(p.user_mask, false);   // the garment, the model's default
      const gc = p.rows.find((r) => r.method === 'gradcam');
      console.log(`${name}: pointing (garment, ${(100 * p.object_share).toFixed(0)}% of the image): ` +
                  p.rows.map((r) => `${r.method} ${(100 * r.energy_inside).toFixed(0)}%${r.max_inside ? '' : ' (peak off)'}`).join(', '));
      assert.ok(gc.energy_inside > p.object_share);
      // a box over the top-left corner (no boot there): the share of heat inside falls
      await page.evaluate(() => window.cnnlens.setMask({ box: [0, 0, 10, 10] }));
      const q = await page.evaluate(() => window.cnnlens.tool('pointing', { cls: 9 }));
      assert.equal(q.user_mask, true);
      assert.ok(Math.abs(q.object_share - 100 / 784) < 1e-9);
      assert.ok(q.rows.find((r) => r.method === 'gradcam').energy_inside < gc.energy_inside);
      await drawn(page, 'pointing table');
      await shot(page, `tools_pointing_${name}`);
      await page.evaluate(() => window.cnnlens.setMask(null));
      const back = await page.evaluate(() => window.cnnlens.tool('pointing', { cls: 9 }));
      assert.deepEqual(back.rows, p.rows);
      assert.deepEqual(consoleErrors(errors), []);
      await page.close();
    });
  }
});
