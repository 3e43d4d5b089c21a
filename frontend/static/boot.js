// Loads the wasm app. A separate file (not an inline script) so that the
// Content-Security-Policy can allow only the app's own scripts.
// The saved theme is applied before the app starts, so the page does not flash.
try {
  const t = localStorage.getItem('mmrace-theme');
  if (t && t !== 'auto') document.documentElement.setAttribute('data-theme', t);
} catch (_) { /* storage may be unavailable (file://, privacy settings) */ }
import init from './mmrace.js';
init().catch((e) => {
  document.body.textContent = 'mmrace failed to start: ' + e;
});
