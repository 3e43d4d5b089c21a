// The Export dialog (pictures for slides). Loaded by the app's Export button on its first
// click only (frontend/src/export.rs), so neither this nor the exporter's wasm weighs on the
// first load; from then on it handles the button's clicks itself. The pictures are made by
// the export-wasm module in a Web Worker (export-worker.js) from the link on screen (the
// button puts it in the address bar before this runs), so they are the bytes
// `mmrace export <link>` writes. After an export the files are downloaded and also left in
// `window.__mmraceExport` = { names, files, link } for scripts and the browser test.

const MODES = [
  ['step-png', 'This step as PNG', 'png', false],
  ['step-svg', 'This step as SVG', 'svg', false],
  ['range-svg', 'Steps A..B as SVG files', 'svg', true],
  ['range-gif', 'Steps A..B as animated GIF', 'gif', true],
];
const SIZES = ['1280x720', '1920x1080'];
const MIME = { svg: 'image/svg+xml', png: 'image/png', gif: 'image/gif' };

let worker = null;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

// The names `mmrace export` gives, with `mmrace` for the scenario.
function fileNames(format, from, to) {
  if (format === 'gif') return [`mmrace-steps-${from}-${to}.gif`];
  const width = Math.max(2, String(to).length);
  const names = [];
  for (let s = from; s <= to; s++) names.push(`mmrace-step-${String(s).padStart(width, '0')}.${format}`);
  return names;
}

function download(name, bytes, mime) {
  const url = URL.createObjectURL(new Blob([bytes], { type: mime }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  // The download reads the blob asynchronously.
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

function close() {
  const d = document.getElementById('export-dialog');
  if (d) d.remove();
}

function open(button) {
  if (document.getElementById('export-dialog')) {
    close();
    return;
  }
  const cursor = Number(button.dataset.cursor || 0);
  const len = Number(button.dataset.len || 0);
  const mode = el('select', { id: 'export-mode' },
    ...MODES.map(([id, label]) => el('option', { value: id }, label)));
  const from = el('input', { id: 'export-from', type: 'number', min: '0', max: String(len), value: String(Math.max(0, cursor - 3)) });
  const to = el('input', { id: 'export-to', type: 'number', min: '0', max: String(len), value: String(cursor) });
  const size = el('select', { id: 'export-size' }, ...SIZES.map((s) => el('option', { value: s }, s)));
  const delay = el('input', { id: 'export-delay', type: 'number', min: '20', max: '60000', value: '1500' });
  const range = el('span', { class: 'export-range' },
    el('label', {}, 'From ', from), el('label', {}, ' To ', to));
  const delayLabel = el('label', {}, 'Delay (ms) ', delay);
  const go = el('button', { id: 'export-go', class: 'primary' }, 'Export');
  const closeButton = el('button', { id: 'export-close' }, 'Close');
  const status = el('p', { id: 'export-status', class: 'export-status', 'data-state': 'idle', role: 'status' });
  const dialog = el('div', { id: 'export-dialog', class: 'export-dialog', role: 'dialog', 'aria-label': 'Export pictures' },
    el('h2', {}, 'Export for slides'),
    el('p', { class: 'dim' }, `Presentation theme; the same pictures as \`mmrace export\` with this step's link. Step on screen: ${cursor} of ${len}.`),
    el('label', {}, 'What ', mode), range, el('label', {}, 'Size ', size), delayLabel,
    el('div', { class: 'export-actions' }, go, closeButton), status);
  const setStatus = (state, text) => {
    status.dataset.state = state;
    status.className = 'export-status ' + state;
    status.textContent = text;
    go.disabled = state === 'running';
  };
  const sync = () => {
    const m = MODES.find((x) => x[0] === mode.value);
    range.hidden = !m[3];
    delayLabel.hidden = m[2] !== 'gif';
    if (status.dataset.state !== 'running') setStatus('idle', '');
  };
  for (const i of [mode, from, to, size, delay]) i.addEventListener('change', sync);
  closeButton.addEventListener('click', close);
  // Escape closes the dialog (and stays here: the app's Escape leaves presentation mode).
  dialog.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.stopPropagation();
      close();
    }
  });
  go.addEventListener('click', () => {
    const [, , format, isRange] = MODES.find((x) => x[0] === mode.value);
    const a = isRange ? Number(from.value) : cursor;
    const b = isRange ? Number(to.value) : cursor;
    if (!Number.isInteger(a) || a < 0 || from.value.trim() === '') return setStatus('error', `From \`${from.value}\`: not a step number`);
    if (!Number.isInteger(b) || b < 0 || to.value.trim() === '') return setStatus('error', `To \`${to.value}\`: not a step number`);
    // The range, the size and the delay are checked by the exporter (the renderer's limits).
    const link = decodeURIComponent(location.hash.replace(/^#/, ''));
    const req = { link, format, from: a, to: b, size: size.value, delayMs: Number(delay.value) };
    if (worker) worker.terminate();
    worker = new Worker('./export-worker.js', { type: 'module' });
    setStatus('running', 'Rendering… (the first export loads the exporter)');
    worker.onmessage = (e) => {
      const m = e.data || {};
      if (m.type !== 'done') return setStatus('error', m.message || 'unknown error');
      const names = fileNames(format, a, b);
      if (names.length !== m.files.length) {
        return setStatus('error', `the exporter returned ${m.files.length} files for ${names.length} names`);
      }
      window.__mmraceExport = { names, files: m.files, link };
      names.forEach((n, i) => download(n, m.files[i], MIME[format]));
      const n = names.length;
      setStatus('done', `Saved ${n} file${n === 1 ? '' : 's'} (${(m.ms / 1000).toFixed(1)} s).`);
    };
    worker.onerror = (e) => setStatus('error', 'the export worker failed: ' + (e.message || 'could not be loaded'));
    worker.postMessage(req);
  });
  sync();
  document.body.append(dialog);
}

// Later clicks: the button (its own handler runs first and refreshes the link and the step).
document.addEventListener('click', (e) => {
  const b = e.target instanceof Element ? e.target.closest('#export-button') : null;
  if (b) open(b);
});
// The click that loaded this module.
const first = document.getElementById('export-button');
if (first) open(first);
