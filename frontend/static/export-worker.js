// Export for slides, in a Web Worker (a module worker): the `export-wasm` module (resvg, the
// embedded font, the GIF encoder) is fetched on the first export only, and rasterising a
// range of frames does not freeze the page. Started by the Export dialog
// (frontend/src/export.rs). The pictures are the same bytes `mmrace export <link>` writes.
//
// In:  { link: 'v1.…', format: 'svg'|'png'|'gif', from, to, size: '1280x720'|'1920x1080', delayMs }
// Out: { type: 'done', files: [Uint8Array, …], ms }  (the buffers are transferred)
//      { type: 'error', message }
import init, { export_pictures } from './export_wasm.js';

let ready = null;

self.onmessage = async (e) => {
  const { link, format, from, to, size, delayMs } = e.data || {};
  try {
    ready = ready || init();
    await ready;
  } catch (err) {
    ready = null;
    self.postMessage({ type: 'error', message: 'the exporter could not be loaded: ' + err });
    return;
  }
  const t0 = performance.now();
  try {
    const files = export_pictures(String(link), String(format), from, to, String(size), delayMs);
    const list = Array.from(files);
    self.postMessage({ type: 'done', files: list, ms: performance.now() - t0 },
      list.map((f) => f.buffer));
  } catch (err) {
    self.postMessage({ type: 'error', message: String(err && err.message ? err.message : err) });
  }
};
