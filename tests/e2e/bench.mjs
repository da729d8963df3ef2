// bench.mjs: web app measurements in headless Chromium (a benchmark, not a test: node --test skips it).
//
//   node tests/e2e/bench.mjs [VGG16_WEIGHTS]
//
// For the built-in model: page load to first prediction. With VGG16-shaped weights (any
// safetensors/.pth/.h5 of VGG16; e.g. random ones): weights load time, drop to first Grad-CAM,
// frames the UI drew meanwhile, wasm memory with VGG16 loaded; once cross-origin isolated
// (threaded build) and once not (single-threaded build). SwiftShader draws on the CPU, so the
// frame rate here is a lower bound.
import fs from 'node:fs';
import path from 'node:path';
import { ROOT, SITE, dropFile, launch, openApp, startServer } from './helpers.mjs';

const weights = process.argv[2];
const link = path.join(SITE, 'e2e-data', 'bench-weights.safetensors');
if (weights) {
  fs.mkdirSync(path.dirname(link), { recursive: true });
  fs.rmSync(link, { force: true });
  fs.symlinkSync(path.resolve(weights), link);
}
const image = path.join(ROOT, 'assets/samples/chelsea.jpg');   // also the ?image= of the page

for (const coi of [true, false]) {
  const server = await startServer({ coi });
  const browser = await launch();
  try {
    const t0 = Date.now();
    const { page } = await openApp(browser.context, server.url + '?image=samples/chelsea.jpg');
    await page.waitForFunction(() => window.cnnlens.top5().length === 5);
    const first = await page.evaluate(() => window.cnnlens.timings());
    const info = await page.evaluate(() => ({ threaded: window.cnnlens.threaded, threads: window.cnnlens.threads }));
    console.log(`== ${coi ? 'cross-origin isolated' : 'not isolated'}: ${info.threaded ? 'threaded' : 'single-thread'} build, ` +
                `${info.threads} thread(s)`);
    console.log(`built-in model: page load to first prediction ${first.pageToFirstPrediction.toFixed(0)} ms ` +
                `(wall ${Date.now() - t0} ms incl. browser start)`);
    if (weights) {
      const tl = Date.now();
      await page.evaluate(() => window.cnnlens.loadWeights('e2e-data/bench-weights.safetensors'));
      const err = await page.evaluate(() => window.cnnlens.lastError());
      if (err) throw new Error(err.text);
      const t = await page.evaluate(() => window.cnnlens.timings());
      console.log(`VGG16 weights: ${Date.now() - tl} ms (read ${t.read.toFixed(0)} ms, build ${t.load.toFixed(0)} ms; ` +
                  `includes a forward of the current image)`);
      await page.evaluate(async () => {
        await window.cnnlens.setLayer('block5_conv3');
        await window.cnnlens.setCamLayer('block5_conv3');
      });
      const i0 = await page.evaluate(() => window.cnnlens.frames());
      await new Promise((r) => setTimeout(r, 2000));
      const idle = (await page.evaluate(() => window.cnnlens.frames())) - i0;
      console.log(`idle: ${(idle / 2).toFixed(1)} fps (the UI draws nothing while idle)`);
      const f0 = await page.evaluate(() => window.cnnlens.frames());
      const td = Date.now();
      await dropFile(page, image, 'image/jpeg');
      const ms = Date.now() - td;
      const f1 = await page.evaluate(() => window.cnnlens.frames());
      const t2 = await page.evaluate(() => window.cnnlens.timings());
      const heat = await page.evaluate(() => window.cnnlens.heatmap());
      const mem = await page.evaluate(() => window.cnnlens.memory());
      console.log(`drop to first Grad-CAM (${heat ? heat.layer : 'none'}): ${ms} ms; forward ${t2.forward.toFixed(0)} ms, ` +
                  `backward ${t2.backward != null ? t2.backward.toFixed(0) : '-'} ms, maps ${t2.explain != null ? t2.explain.toFixed(0) : '-'} ms`);
      console.log(`frames drawn meanwhile: ${f1 - f0} (${((f1 - f0) / (ms / 1000)).toFixed(1)} fps)`);
      console.log(`wasm memory with VGG16: ${(mem.wasmHeapBytes / 2 ** 20).toFixed(0)} MiB`);
    }
    await page.close();
  } finally {
    await browser.close();
    server.stop();
  }
}
if (weights) fs.rmSync(link, { force: true });
