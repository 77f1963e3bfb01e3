// The live page: the setup lives in the address, a run streams frames (server-sent events
// read from a POST's body, so that a refused setup's message can be shown), and every
// picture is drawn from the last frame once per animation frame.
'use strict';

const POS = [245, 147, 34];   // class 1
const NEG = [8, 119, 189];    // class 0
const MID = [232, 234, 235];
const $ = (id) => document.getElementById(id);

// What the page knows now; also read by the browser test.
const state = { info: null, run: null, setup: null, frame: null, playing: false, controller: null, curve: [], drawn: null };
window.xorgpu = state;

// ---------------------------------------------------------------- colours and numbers

/** t in [0, 1]: 0 class 0's blue, 0.5 pale, 1 class 1's orange. */
function colour(t) {
  t = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0.5));
  const [a, b, s] = t < 0.5 ? [NEG, MID, t * 2] : [MID, POS, (t - 0.5) * 2];
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * s));
}
const css = (rgb) => `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;

function number(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  if (x === 0) return '0';
  return Math.abs(x) >= 1e-4 && Math.abs(x) < 1e4 ? x.toFixed(6) : x.toExponential(3);
}
function rate(x) {
  if (!x) return '–';
  const units = [[1e12, ' T'], [1e9, ' G'], [1e6, ' M'], [1e3, ' k']];
  for (const [v, u] of units) if (x >= v) return (x / v).toPrecision(3) + u;
  return x.toPrecision(3);
}
const percent = (a) => (a === null || a === undefined ? '–' : (100 * a).toFixed(1) + '%');

// ---------------------------------------------------------------- errors and status

function showError(message) {
  const box = $('error');
  box.textContent = message;
  box.hidden = false;
  // "lr: expected …" names the field it is about.
  const name = message.split(':')[0].trim();
  const field = document.querySelector(`#setup [name="${name}"]`) || (name === 'features' ? $('features') : null);
  if (field) field.classList.add('invalid');
}
function clearError() {
  $('error').hidden = true;
  document.querySelectorAll('.invalid').forEach((e) => e.classList.remove('invalid'));
}
const setStatus = (text) => { $('status').textContent = text; };

// ---------------------------------------------------------------- the stream

/** Reads server-sent events from a fetch response, calling on[event](data). */
async function readEvents(response, controller, on) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length && on[event]) on[event](data.join('\n'));
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) showError('the stream from the server broke: ' + e.message);
  }
}

/** POSTs to `url`; the response, or null with the server's message shown. */
async function post(url, controller) {
  let response;
  try {
    response = await fetch(url, { method: 'POST', signal: controller ? controller.signal : undefined });
  } catch (e) {
    if (!controller || !controller.signal.aborted) showError('cannot reach the server: ' + e.message);
    return null;
  }
  if (!response.ok) {
    const body = await response.json().catch(() => ({ error: `${response.status} ${response.statusText}` }));
    showError(body.error);
    return null;
  }
  return response;
}

// ---------------------------------------------------------------- the setup and the address

const FIELDS = ['dataset', 'batch', 'noise', 'test', 'seed', 'hidden', 'activation', 'optimizer', 'lr', 'l2', 'init_scale', 'backend'];
// The settings each update rule reads; sent only for that rule.
const RULE_FIELDS = { sgd: [], momentum: ['momentum'], adam: ['beta1', 'beta2', 'eps'] };

function formParams() {
  const p = new URLSearchParams();
  for (const f of FIELDS) p.set(f, $(f).value.trim());
  for (const f of RULE_FIELDS[$('optimizer').value] || []) p.set(f, $(f).value.trim());
  const features = [...document.querySelectorAll('#features input:checked')].map((i) => i.value);
  p.set('features', features.join(','));
  return p;
}

function applyParams(p) {
  for (const f of [...FIELDS, ...Object.values(RULE_FIELDS).flat()]) if (p.has(f)) $(f).value = p.get(f);
  if (p.has('features')) {
    const chosen = p.get('features').split(',');
    document.querySelectorAll('#features input').forEach((i) => { i.checked = chosen.includes(i.value); });
  }
  noiseLabel();
  ruleFields();
}

/** Shows the settings of the chosen update rule alone. */
function ruleFields() {
  document.querySelectorAll('#setup .rule').forEach((label) => { label.hidden = !label.classList.contains($('optimizer').value); });
}

function noiseLabel() {
  const d = state.info && state.info.datasets.find((s) => s.name === $('dataset').value);
  $('noise-label').textContent = d && d.noise !== 'σ' ? 'Noise ν (0–0.5)' : 'Noise σ';
}

function fillChoices(info) {
  const options = (select, items) => {
    $(select).innerHTML = '';
    for (const [value, text] of items) $(select).add(new Option(text, value));
  };
  options('dataset', info.datasets.map((d) => [d.name, d.name === 'corners' ? 'corners (XOR)' : d.name]));
  options('activation', info.activations.map((a) => [a, a]));
  options('optimizer', info.optimizers.map((o) => [o.name, o.name]));
  options('backend', info.backends.map((b) => [b.name, `${b.name.toUpperCase()}: ${b.adapter}`]));
  $('backend').value = info.default_backend;
  for (const o of info.optimizers) for (const f of RULE_FIELDS[o.name] || []) $(f).value = o[f];
  $('features').innerHTML = '';
  for (const f of info.features) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.value = f;
    box.checked = f === 'x1' || f === 'x2';
    label.append(box, ' ' + f);
    $('features').append(label);
  }
  $('sweep-backends').innerHTML = '';
  for (const b of info.backends) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.name = 'backend';
    box.value = b.name;
    box.checked = true;
    label.append(box, ` ${b.name.toUpperCase()} (${b.adapter})`);
    $('sweep-backends').append(label);
  }
}

// ---------------------------------------------------------------- a run

function stopRun() {
  if (state.controller) state.controller.abort();
  state.controller = null;
  state.run = null;
}

async function startRun() {
  stopRun();
  clearError();
  const p = formParams();
  history.replaceState(null, '', '?' + p.toString() + location.hash);
  const controller = new AbortController();
  state.controller = controller;
  Object.assign(state, { setup: null, frame: null, playing: false, curve: [], drawn: null });
  updateButtons();
  setStatus('starting…');
  const response = await post('/api/run?' + p, controller);
  if (!response) {
    setStatus('');
    return;
  }
  await readEvents(response, controller, {
    setup: (data) => {
      const setup = JSON.parse(data);
      state.setup = setup;
      state.run = setup.id;
      $('download').href = `/api/run/${setup.id}/model`;
      $('where').textContent = `${setup.net} · ${setup.optimizer} · ${setup.source}, ${setup.batch} training samples` +
        (setup.test ? `, ${setup.test} test` : '') + ` · ${setup.backend.toUpperCase()}: ${setup.adapter}` +
        (setup.kernels ? ` · ${setup.kernels} kernels` : '');
      buildNet(setup);
      drawPoints(setup);
      setStatus('ready: press play');
      updateButtons();
    },
    frame: (data) => {
      const frame = JSON.parse(data);
      const last = state.curve[state.curve.length - 1];
      if (last && frame.epoch < last.epoch) state.curve = [];
      if (last && frame.epoch === last.epoch) state.curve.pop();
      state.curve.push({ epoch: frame.epoch, loss: frame.loss, test: frame.test_loss });
      if (state.curve.length > 4000) state.curve = state.curve.filter((_, i) => i % 2 === 0 || i === state.curve.length - 1);
      state.frame = frame;
      state.playing = frame.playing;
      if (frame.done) setStatus(`done: ${frame.epoch} epochs in ${frame.seconds.toFixed(3)} s`);
      else setStatus(frame.playing ? 'training' : 'paused');
      updateButtons();
      requestDraw();
    },
    stopped: (why) => { state.playing = false; showError(why); updateButtons(); },
    failed: (why) => { state.playing = false; showError(why); updateButtons(); },
  });
  if (state.controller === controller && !controller.signal.aborted) {
    setStatus('the run ended (the server stopped it)');
    state.run = null;
    updateButtons();
  }
}

async function steer(action) {
  if (!state.run) return;
  if (action === 'play' || action === 'pause') {
    state.playing = action === 'play';
    updateButtons();
  }
  await post(`/api/run/${state.run}/${action}`);
}

function updateButtons() {
  $('play').textContent = state.playing ? 'Pause' : '▶ Play';
  for (const id of ['play', 'step', 'reset']) $(id).disabled = !state.run;
  $('download').classList.toggle('disabled', !state.run);
}

// ---------------------------------------------------------------- drawing

let drawPending = false;
function requestDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => {
    drawPending = false;
    draw();
  });
}

function draw() {
  const f = state.frame;
  const s = state.setup;
  if (!f || !s) return;
  $('epoch').textContent = f.epoch;
  // A large set is scored on its first samples: said beside the figures.
  const part = (scored, all) => (scored !== null && scored < all ? ` (first ${scored.toLocaleString('en')})` : '');
  $('train-loss').textContent = number(f.loss) + part(f.scored, s.batch);
  $('test-loss').textContent = number(f.test_loss) + part(f.test_scored, s.test);
  $('train-acc').textContent = percent(f.train_accuracy) + part(f.scored, s.batch);
  $('test-acc').textContent = percent(f.test_accuracy) + part(f.test_scored, s.test);
  $('epochs-per-s').textContent = rate(f.epochs_per_s);
  $('samples-per-s').textContent = rate(f.samples_per_s);
  drawMap($('boundary'), f.grid, s.grid, (v) => v);
  drawLoss();
  updateNet(f);
}

/** Draws a k × k map (rows from the top) over the canvas, values to colours by `scale`. */
function drawMap(canvas, values, k, scale) {
  const small = document.createElement('canvas');
  small.width = k;
  small.height = k;
  const cx = small.getContext('2d');
  const image = cx.createImageData(k, k);
  for (let i = 0; i < k * k; i++) {
    const [r, g, b] = colour(scale(values[i]));
    image.data.set([r, g, b, 255], 4 * i);
  }
  cx.putImageData(image, 0, 0);
  const c = canvas.getContext('2d');
  c.imageSmoothingEnabled = true;
  c.drawImage(small, 0, 0, canvas.width, canvas.height);
  return small;
}

function drawPoints(setup) {
  const canvas = $('points');
  const c = canvas.getContext('2d');
  c.clearRect(0, 0, canvas.width, canvas.height);
  const [lo, hi] = setup.domain;
  const at = (x, y) => [((x - lo) / (hi - lo)) * canvas.width, ((hi - y) / (hi - lo)) * canvas.height];
  const dot = ([x, y, t], ring) => {
    const [px, py] = at(x, y);
    c.beginPath();
    c.arc(px, py, 4, 0, 2 * Math.PI);
    c.fillStyle = css(t >= 0.5 ? POS : NEG);
    c.fill();
    c.lineWidth = 1.2;
    c.strokeStyle = ring;
    c.stroke();
  };
  for (const p of setup.points.train) dot(p, '#fff');
  for (const p of setup.points.test || []) dot(p, '#000');
}

function drawLoss() {
  const canvas = $('loss');
  const c = canvas.getContext('2d');
  const [w, h] = [canvas.width, canvas.height];
  c.clearRect(0, 0, w, h);
  const curve = state.curve;
  if (curve.length < 1) return;
  const values = curve.flatMap((p) => [p.loss, p.test]).filter((v) => Number.isFinite(v) && v > 0);
  if (!values.length) return;
  const top = Math.log10(Math.max(...values)) + 0.05;
  const bottom = Math.min(Math.log10(Math.min(...values)), top - 1);
  const last = Math.max(1, curve[curve.length - 1].epoch);
  const x = (e) => 4 + (e / last) * (w - 8);
  const y = (v) => 14 + ((top - Math.log10(Math.max(v, 1e-30))) / (top - bottom)) * (h - 28);
  const line = (key, colourText) => {
    c.beginPath();
    let started = false;
    for (const p of curve) {
      if (!Number.isFinite(p[key])) continue;
      if (started) c.lineTo(x(p.epoch), y(p[key]));
      else c.moveTo(x(p.epoch), y(p[key]));
      started = true;
    }
    c.strokeStyle = colourText;
    c.lineWidth = 1.5;
    c.stroke();
  };
  line('loss', '#183d4e');
  line('test', css(POS));
  c.fillStyle = '#666';
  c.font = '11px system-ui, sans-serif';
  c.fillText(`loss (log scale) ${Math.pow(10, top).toPrecision(2)}`, 4, 11);
  c.fillText(Math.pow(10, bottom).toPrecision(2), 4, h - 3);
  const tail = `epoch ${last}`;
  c.fillText(tail, w - 4 - c.measureText(tail).width, h - 3);
  c.fillStyle = '#183d4e';
  c.fillText('train', w - 80, 11);
  c.fillStyle = css(POS);
  c.fillText('test', w - 40, 11);
}

// The network: columns of units, lines for weights; built once a run, updated per frame.
const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs, parent) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.append(e);
  return e;
}

const MAX_SHOWN = 16;
function buildNet(setup) {
  const root = $('net');
  root.innerHTML = '';
  const width = root.clientWidth || 600;
  const height = 420;
  root.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const widths = setup.widths;
  const shown = widths.map((d) => Math.min(d, MAX_SHOWN));
  const most = Math.max(...shown);
  const size = Math.max(10, Math.min(40, (height - 40) / most - 6));
  const columnX = (c) => 50 + (c * (width - 100 - size)) / Math.max(1, widths.length - 1);
  const rowY = (c, i) => height / 2 + (i - (shown[c] - 1) / 2) * (size + 6);
  const linesLayer = svg('g', {}, root);
  const nodesLayer = svg('g', {}, root);
  const view = { lines: [], units: new Map(), output: null };
  for (let l = 1; l < widths.length; l++) {
    for (let j = 0; j < shown[l]; j++) {
      for (let i = 0; i < shown[l - 1]; i++) {
        const line = svg('line', {
          x1: columnX(l - 1) + size, y1: rowY(l - 1, i) + size / 2,
          x2: columnX(l), y2: rowY(l, j) + size / 2, stroke: '#ccc', 'stroke-width': 1,
        }, linesLayer);
        const title = svg('title', {}, line);
        view.lines.push({ line, title, l, j, i, cols: widths[l - 1] });
      }
    }
  }
  for (let c = 0; c < widths.length; c++) {
    for (let i = 0; i < shown[c]; i++) {
      const [x, y] = [columnX(c), rowY(c, i)];
      if (c === 0) {
        svg('rect', { x, y, width: size, height: size, fill: '#eef', stroke: '#99a' }, nodesLayer);
        const label = svg('text', { x: x - 4, y: y + size / 2 + 4, 'text-anchor': 'end', 'font-size': 11 }, nodesLayer);
        label.textContent = setup.features[i];
      } else {
        const image = svg('image', { x, y, width: size, height: size, preserveAspectRatio: 'none' }, nodesLayer);
        svg('rect', { x, y, width: size, height: size, fill: 'none', stroke: '#999' }, nodesLayer);
        if (c === widths.length - 1) view.output = image;
        else view.units.set(`${c},${i}`, image);
      }
    }
    if (widths[c] > shown[c]) {
      const more = svg('text', { x: columnX(c), y: rowY(c, shown[c] - 1) + size + 16, 'font-size': 11, fill: '#666' }, nodesLayer);
      more.textContent = `+${widths[c] - shown[c]} more`;
    }
  }
  state.drawn = view;
}

let lastNetDraw = 0;
function updateNet(f) {
  const view = state.drawn;
  if (!view) return;
  // Many maps are many images: at most ten redraws a second then.
  const now = performance.now();
  if (view.units.size > 16 && now - lastNetDraw < 100 && f.playing) return;
  lastNetDraw = now;
  const largest = f.layers.map((layer) => Math.max(1e-9, ...layer.w.map(Math.abs)));
  for (const { line, title, l, j, i, cols } of view.lines) {
    const w = f.layers[l - 1].w[j * cols + i];
    line.setAttribute('stroke', css(w >= 0 ? POS : NEG));
    line.setAttribute('stroke-width', (0.4 + 5 * Math.abs(w) / largest[l - 1]).toFixed(2));
    title.textContent = `W${l}[${j + 1},${i + 1}] = ${w.toPrecision(4)}`;
  }
  const activation = state.setup.activation;
  for (const [l, u, map] of f.units) {
    const image = view.units.get(`${l},${u}`);
    if (!image) continue;
    const top = Math.max(1e-9, ...map.map(Math.abs));
    const scale = activation === 'sigmoid' ? (v) => v : activation === 'tanh' ? (v) => (v + 1) / 2 : (v) => 0.5 + 0.5 * (v / top);
    const small = drawMap(document.createElement('canvas'), map, state.setup.unit_grid, scale);
    image.setAttribute('href', small.toDataURL());
  }
  if (view.output) image(view.output, drawMap(document.createElement('canvas'), f.grid, state.setup.grid, (v) => v));
}
function image(element, canvas) {
  element.setAttribute('href', canvas.toDataURL());
}

// ---------------------------------------------------------------- the sweep view

const sweep = { controller: null, points: [], sizes: [] };

async function runSweep(event) {
  event.preventDefault();
  if (sweep.controller) sweep.controller.abort();
  clearError();
  const form = new FormData($('sweep-form'));
  const p = new URLSearchParams();
  p.set('backends', form.getAll('backend').join(','));
  for (const k of ['hidden', 'min', 'max', 'factor', 'seconds']) p.set(k, String(form.get(k)).trim());
  const controller = new AbortController();
  sweep.controller = controller;
  sweep.points = [];
  $('sweep-table').tBodies[0].innerHTML = '';
  $('sweep-stop').disabled = false;
  drawSweep();
  const response = await post('/api/sweep?' + p, controller);
  if (response) {
    await readEvents(response, controller, {
      setup: (data) => { sweep.sizes = JSON.parse(data).sizes; drawSweep(); },
      point: (data) => {
        const r = JSON.parse(data);
        sweep.points.push(r);
        const row = $('sweep-table').tBodies[0].insertRow();
        for (const v of [r.backend, r.batch, r.epochs, (1000 * r.seconds_per_epoch).toPrecision(3), rate(r.samples_per_s), number(r.final_loss)]) {
          row.insertCell().textContent = v;
        }
        drawSweep();
      },
      failed: (why) => showError(why),
    });
  }
  if (sweep.controller === controller) {
    sweep.controller = null;
    $('sweep-stop').disabled = true;
  }
}

function drawSweep() {
  const canvas = $('sweep-chart');
  const c = canvas.getContext('2d');
  const [w, h] = [canvas.width, canvas.height];
  c.clearRect(0, 0, w, h);
  const sizes = sweep.sizes.length ? sweep.sizes : [4, 65536];
  const rates = sweep.points.map((r) => r.samples_per_s);
  const [x0, x1] = [Math.log10(sizes[0]), Math.log10(sizes[sizes.length - 1]) + 1e-9];
  const [y0, y1] = rates.length ? [Math.floor(Math.log10(Math.min(...rates))), Math.ceil(Math.log10(Math.max(...rates)) + 1e-9)] : [3, 9];
  const [left, right, top, bottom] = [60, w - 20, 20, h - 40];
  const X = (b) => left + ((Math.log10(b) - x0) / (x1 - x0 || 1)) * (right - left);
  const Y = (v) => bottom - ((Math.log10(v) - y0) / (y1 - y0 || 1)) * (bottom - top);
  c.strokeStyle = '#ddd';
  c.fillStyle = '#666';
  c.font = '11px system-ui, sans-serif';
  for (let e = y0; e <= y1; e++) {
    c.beginPath(); c.moveTo(left, Y(10 ** e)); c.lineTo(right, Y(10 ** e)); c.stroke();
    c.fillText(`1e${e}`, 8, Y(10 ** e) + 4);
  }
  for (let e = Math.ceil(x0); e <= Math.floor(x1); e++) {
    c.beginPath(); c.moveTo(X(10 ** e), top); c.lineTo(X(10 ** e), bottom); c.stroke();
    c.fillText(`1e${e}`, X(10 ** e) - 10, bottom + 16);
  }
  c.fillText('training samples (batch), log scale', left + 140, h - 6);
  c.save(); c.translate(12, top + 150); c.rotate(-Math.PI / 2); c.fillText('samples / s', 0, 0); c.restore();
  for (const [backend, rgb] of [['gpu', POS], ['cpu', NEG]]) {
    const series = sweep.points.filter((r) => r.backend === backend);
    c.strokeStyle = c.fillStyle = css(rgb);
    c.beginPath();
    series.forEach((r, i) => (i ? c.lineTo(X(r.batch), Y(r.samples_per_s)) : c.moveTo(X(r.batch), Y(r.samples_per_s))));
    c.stroke();
    for (const r of series) { c.beginPath(); c.arc(X(r.batch), Y(r.samples_per_s), 3, 0, 2 * Math.PI); c.fill(); }
    if (series.length) c.fillText(backend.toUpperCase(), X(series[series.length - 1].batch) + 6, Y(series[series.length - 1].samples_per_s));
  }
}

// ---------------------------------------------------------------- wiring

function showView() {
  const sweepView = location.hash === '#sweep';
  $('view-train').hidden = sweepView;
  $('view-sweep').hidden = !sweepView;
  $('tab-train').classList.toggle('active', !sweepView);
  $('tab-sweep').classList.toggle('active', sweepView);
}

async function main() {
  showView();
  window.addEventListener('hashchange', showView);
  try {
    const response = await fetch('/api/info');
    state.info = await response.json();
  } catch (e) {
    showError('cannot reach the server: ' + e.message);
    return;
  }
  fillChoices(state.info);
  applyParams(new URLSearchParams(location.search));
  $('setup').addEventListener('change', (event) => {
    const name = event.target.name;
    if (name === 'optimizer') {
      $('lr').value = state.info.optimizers.find((o) => o.name === $('optimizer').value).lr;
      ruleFields();
    }
    if (name === 'dataset') {
      const corners = $('dataset').value === 'corners';
      $('noise').value = corners ? 0.1 : 0;
      if (corners) $('batch').value = 4;
      else if (Number($('batch').value) === 4) $('batch').value = 500;
      noiseLabel();
    }
    startRun();
  });
  $('setup').addEventListener('submit', (event) => { event.preventDefault(); startRun(); });
  $('play').addEventListener('click', () => steer(state.playing ? 'pause' : 'play'));
  $('step').addEventListener('click', () => steer('step'));
  $('reset').addEventListener('click', () => steer('reset'));
  $('download').addEventListener('click', (event) => { if (!state.run) event.preventDefault(); });
  document.addEventListener('keydown', (event) => {
    if (event.key === ' ' && !['INPUT', 'SELECT', 'BUTTON'].includes(document.activeElement.tagName)) {
      event.preventDefault();
      steer(state.playing ? 'pause' : 'play');
    }
  });
  $('sweep-form').addEventListener('submit', runSweep);
  $('sweep-stop').addEventListener('click', () => { if (sweep.controller) sweep.controller.abort(); sweep.controller = null; $('sweep-stop').disabled = true; });
  drawSweep();
  startRun();
}

main();
