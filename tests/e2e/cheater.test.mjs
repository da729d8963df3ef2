// cheater.test.mjs: the second built-in model, the shortcut ("Clever Hans") network, in the page.
// `?model=models/cheater.safetensors` loads it offline from the site; a gallery garment with
// another class's square stamped on (drawn in the page, at the position the file's metadata
// gives) is answered as the square's class, with the native CLI's numbers.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ROOT, cli, launch, openApp, parsePredict, shot, startServer } from './helpers.mjs';

const WEIGHTS = path.join(ROOT, 'assets/fashion_mnist_cheater.safetensors');
const SAMPLE = 'samples/fashion-mnist/1-Trouser-test00002.png';

// The safetensors metadata of a file (its JSON header's __metadata__).
function metadata(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  return JSON.parse(buf.subarray(8, 8 + n).toString('utf8')).__metadata__;
}

describe('the shortcut model in the page', () => {
  let server, browser;
  before(async () => { server = await startServer(); browser = await launch(); });
  after(async () => { await browser?.close(); server?.stop(); });

  test('loads from the site and follows a stamped square, as the CLI does', async () => {
    const meta = metadata(WEIGHTS);
    const size = +meta.marker_size, value = +meta.marker_value, positions = JSON.parse(meta.marker_positions);
    const names = JSON.parse(meta.class_names);
    const { page, errors } = await openApp(browser.context, server.url + `?model=models/cheater.safetensors&image=${SAMPLE}`);
    await page.waitForFunction(() => window.cnnlens.imageName() === '1-Trouser-test00002.png' && window.cnnlens.top5().length,
                               null, { timeout: 30000 });
    const model = await page.evaluate(() => window.cnnlens.model());
    assert.match(model.name, /cheater/i);
    assert.equal((await page.evaluate(() => window.cnnlens.top5()))[0].name, 'Trouser');   // clean: the garment
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cnnlens-cheater-'));
    for (const cls of [3, 7, 9]) {   // Dress, Sneaker, Ankle boot squares on a trouser
      const [r, c] = positions[cls];
      const b64 = await page.evaluate(async ({ url, r, c, size, value }) => {
        const bmp = await createImageBitmap(await (await fetch(url)).blob());
        const canvas = new OffscreenCanvas(bmp.width, bmp.height);
        const g = canvas.getContext('2d');
        g.drawImage(bmp, 0, 0);
        g.fillStyle = `rgb(${value},${value},${value})`;
        g.fillRect(c, r, size, size);
        const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer());
        const name = `stamped-${r}-${c}.png`;
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: 'image/png' }));
        const target = document.elementFromPoint(innerWidth / 2, innerHeight / 2) || document.body;
        target.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
        target.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
        let s = '';
        for (const b of bytes) s += String.fromCharCode(b);
        return btoa(s);
      }, { url: SAMPLE, r, c, size, value });
      const name = `stamped-${r}-${c}.png`;
      await page.waitForFunction((n) => window.cnnlens.imageName() === n, name, { timeout: 30000 });
      await page.evaluate(() => window.cnnlens.ready());
      const top = await page.evaluate(() => window.cnnlens.top5());
      assert.equal(top[0].name, names[cls], `the ${names[cls]} square on a trouser`);
      const file = path.join(tmp, name);
      fs.writeFileSync(file, Buffer.from(b64, 'base64'));
      const ref = parsePredict(cli('predict', '--weights', WEIGHTS, '--image', file));
      assert.equal(ref[0].index, cls);
      for (let k = 0; k < 5; k++) {
        assert.equal(top[k].name, ref[k].name);
        assert.ok(Math.abs(top[k].prob - ref[k].prob) < 1e-4, `${top[k].name}: page ${top[k].prob}, CLI ${ref[k].prob}`);
      }
      if (cls === 7) await shot(page, 'cheater_sneaker_square_on_trouser');
    }
    fs.rmSync(tmp, { recursive: true, force: true });
    assert.deepEqual(errors.filter((e) => !/favicon/.test(e)), []);
    await page.close();
  });
});
