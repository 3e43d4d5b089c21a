// The explorer's Web Worker (a module worker): runs sim-core's exhaustive search (the
// `explore-worker` wasm, loaded on the first message only) off the main thread, so the page
// stays responsive. Started by the app's "Explore all interleavings" (frontend/src/explore.rs)
// and by the browser benchmark (e2e/benches/explore.rs).
//
// In:  { scenario: <scenario JSON>, options: <options JSON>, timeLimitMs: number (0: none) }
// Out: { type: 'progress', states, transitions, depth, frontier, pruned, ms }  (at most ~10/s)
//      { type: 'done', result: <ExploreResult JSON>, ms, timedOut }
//      { type: 'error', message }
// `ms` is measured here with performance.now() around the search only (loading and compiling
// the wasm excluded). sim-core has no clock: the time budget is enforced by answering `false`
// from the progress callback, which cancels the search. Cancel from the page is
// `worker.terminate()`.
import init, { explore } from './explore_worker.js';

let ready = null;

self.onmessage = async (e) => {
  const { scenario, options, timeLimitMs } = e.data || {};
  try {
    ready = ready || init();
    await ready;
  } catch (err) {
    ready = null;
    self.postMessage({ type: 'error', message: 'the explorer could not be loaded: ' + err });
    return;
  }
  const t0 = performance.now();
  let lastPost = t0;
  let timedOut = false;
  const onProgress = (states, transitions, depth, frontier, pruned) => {
    const now = performance.now();
    if (timeLimitMs > 0 && now - t0 > timeLimitMs) {
      timedOut = true;
      return false;
    }
    if (now - lastPost >= 100) {
      lastPost = now;
      self.postMessage({ type: 'progress', states, transitions, depth, frontier, pruned, ms: now - t0 });
    }
    return true;
  };
  try {
    const result = explore(String(scenario), String(options), onProgress);
    self.postMessage({ type: 'done', result, ms: performance.now() - t0, timedOut });
  } catch (err) {
    self.postMessage({ type: 'error', message: String(err) });
  }
};
