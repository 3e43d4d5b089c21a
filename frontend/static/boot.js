// Loads the wasm app. A separate file (not an inline script) so that the
// Content-Security-Policy can allow only the app's own scripts.
// The saved theme is applied before the app starts, so the page does not flash.
try {
  const t = localStorage.getItem('mmrace-theme');
  if (t && t !== 'auto') document.documentElement.setAttribute('data-theme', t);
} catch (_) { /* storage may be unavailable (file://, privacy settings) */ }

// Two builds of the same app: the first-load one (mmrace.js, the stepper, the explorer,
// sharing, export) and the full one (mmrace_full.js: the same plus the author panel and the
// library page). The full one is loaded for the library page (#library) and when the user
// asked to author (?author, set by the first-load app's "✎ Author" button, which reloads the
// page with the link of what is on screen in the fragment).
const author = new URLSearchParams(location.search).has('author');
const full = author || location.hash === '#library';
if (full) {
  const l = document.getElementById('loading');
  if (l) l.textContent = author ? 'Loading the editor…' : 'Loading the library…';
}
(full ? import('./mmrace_full.js') : import('./mmrace.js'))
  .then((m) => m.default())
  .catch((e) => {
    document.body.textContent = 'mmrace failed to start: ' + e;
  });
