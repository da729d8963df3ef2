// peers.js: VGG16 forward timings of the peers, in the browser, through window.peers:
//   await peers.setup({peer: 'tfjs' | 'ort', threads, models})   models: URLs (bench.mjs)
//   await peers.time({reps, rgb})   rgb: the 224x224 RGB bytes CNN Lens' page fed its network
// TF.js: a layers-API VGG16 (tf.sequential) on the 'wasm' backend, weights from the same state
// dict (bench/torch_vgg16.py: HWIO kernels, fc1's rows in HWC order); onnxruntime-web: the wasm
// execution provider on the torch.onnx.export of it. One peer and one thread count per page load
// (both fix their thread pool when they start).
'use strict';
const VGG16 = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
const MEAN = [0.485, 0.456, 0.406], STD = [0.229, 0.224, 0.225];
let peer = null;

function preprocess(rgb, nchw) {   // torchvision's: /255, minus mean, over std
  const n = 224 * 224, x = new Float32Array(3 * n);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < 3; c++) {
      const v = (rgb[3 * i + c] / 255 - MEAN[c]) / STD[c];
      x[nchw ? c * n + i : 3 * i + c] = v;
    }
  return x;
}
function top5(logits) {
  return Array.from(logits, (v, i) => ({ index: i, logit: v })).sort((a, b) => b.logit - a.logit).slice(0, 5);
}

async function setupTfjs(threads, models) {
  const dist = new URL('node_modules/@tensorflow/tfjs-backend-wasm/dist/', location.href).href;
  tf.wasm.setWasmPaths(dist);
  tf.wasm.setThreadsCount(threads);
  if (!(await tf.setBackend('wasm'))) throw new Error('TF.js wasm backend failed to start');
  await tf.ready();
  const t0 = performance.now();
  const m = tf.sequential();
  const zeros = { kernelInitializer: 'zeros', biasInitializer: 'zeros' };
  let first = true;
  for (const c of VGG16) {
    if (c === 'M') m.add(tf.layers.maxPooling2d({ poolSize: 2, strides: 2 }));
    else m.add(tf.layers.conv2d({ filters: c, kernelSize: 3, padding: 'same', activation: 'relu', ...zeros,
                                  ...(first ? { inputShape: [224, 224, 3] } : {}) }));
    first = false;
  }
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 4096, activation: 'relu', ...zeros }));
  m.add(tf.layers.dense({ units: 4096, activation: 'relu', ...zeros }));
  m.add(tf.layers.dense({ units: 1000, ...zeros }));
  const manifest = await (await fetch(models.tfjs_manifest)).json();
  const bin = await (await fetch(models.tfjs)).arrayBuffer();
  const ws = manifest.tensors.map((t) => tf.tensor(new Float32Array(bin, t.offset, t.shape.reduce((a, b) => a * b, 1)), t.shape));
  m.setWeights(ws);
  ws.forEach((w) => w.dispose());
  const loadMs = performance.now() - t0;
  return {
    info: { peer: 'tfjs', version: tf.version.tfjs, backend: tf.getBackend(), threads: tf.wasm.getThreadsCount(),
            crossOriginIsolated: self.crossOriginIsolated, loadMs },
    async forward(x) {
      const t = tf.tensor(x, [1, 224, 224, 3]);
      const y = m.predict(t);
      const out = await y.data();
      t.dispose();
      y.dispose();
      return out;
    },
    nhwc: true,
  };
}

async function setupOrt(threads, models) {
  ort.env.wasm.wasmPaths = new URL('node_modules/onnxruntime-web/dist/', location.href).href;
  ort.env.wasm.numThreads = threads;
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(models.onnx, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const loadMs = performance.now() - t0;
  return {
    info: { peer: 'ort', version: ort.env.versions ? ort.env.versions.web : '?', backend: 'wasm', threads: ort.env.wasm.numThreads,
            crossOriginIsolated: self.crossOriginIsolated, loadMs },
    async forward(x) {
      const out = await session.run({ input: new ort.Tensor('float32', x, [1, 3, 224, 224]) });
      return out.logits.data;
    },
    nhwc: false,
  };
}

window.peers = {
  async setup({ peer: name, threads, models }) {
    peer = name === 'tfjs' ? await setupTfjs(threads, models) : await setupOrt(threads, models);
    return peer.info;
  },
  // A warm-up forward, then reps timed ones (ms, in the order run), and the top-5 logits.
  async time({ reps, rgb }) {
    const x = preprocess(rgb, !peer.nhwc);
    let t0 = performance.now();
    let y = await peer.forward(x);
    const warmup = performance.now() - t0;
    const ms = [];
    for (let r = 0; r < reps; r++) {
      t0 = performance.now();
      y = await peer.forward(x);
      ms.push(performance.now() - t0);
    }
    return { warmup, ms, top5: top5(y) };
  },
};
