// shaders.test.mjs: the GPU colormaps (shaders/colormap.glsl) use exactly the polynomial
// coefficients of the CPU ones (src/explain/colormap.cpp), so the page's heatmaps have the
// colours of the CLI's figures. No browser needed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const glsl = fs.readFileSync(path.join(ROOT, 'shaders/colormap.glsl'), 'utf8');
const cpp = fs.readFileSync(path.join(ROOT, 'src/explain/colormap.cpp'), 'utf8');
const numbers = (text) => (text.match(/-?\d+\.\d+(e-?\d+)?/g) || []).map(Number);

for (const [name, rows] of [['viridis', 7], ['inferno', 7]]) {
  test(`${name}: GLSL coefficients equal colormap.cpp`, () => {
    const g = glsl.slice(glsl.indexOf(`vec3 cmap_${name}(`));
    const gpu = numbers(g.slice(0, g.indexOf('return')));
    const c = cpp.slice(cpp.indexOf(`${name}[${rows}][3] =`));
    const cpu = numbers(c.slice(c.indexOf('=') + 1, c.indexOf(';')));
    assert.equal(cpu.length, rows * 3);
    assert.deepEqual(gpu, cpu);
  });
}

test('turbo: the same 256-entry table', () => {
  const ints = (text) => (text.match(/\d+/g) || []).map(Number);
  const c = cpp.slice(cpp.indexOf('kTurbo[256 * 3] = {') + 'kTurbo[256 * 3] = {'.length);
  const cpu = ints(c.slice(0, c.indexOf('};')));
  const g = glsl.slice(glsl.indexOf('ivec3[256](') + 'ivec3[256]('.length);
  const gpu = ints(g.slice(0, g.indexOf(');')).replace(/ivec3/g, ''));
  assert.equal(cpu.length, 768);
  assert.deepEqual(gpu, cpu);
  assert.match(cpp, /const int i = std::min\(\(int\)x, 254\);/);
  assert.match(glsl, /int i = min\(int\(x\), 254\);/);
});

test('jet: the same piecewise-linear formula', () => {
  assert.match(cpp, /1\.5f - std::fabs\(4 \* t - 3\)/);
  assert.match(glsl, /vec3\(1\.5\) - abs\(4\.0 \* t - vec3\(3\.0, 2\.0, 1\.0\)\)/);
});
