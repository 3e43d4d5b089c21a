// Loads the wasm app. A separate file (not an inline script) so that the
// Content-Security-Policy can allow only the app's own scripts.
import init from './mmrace.js';
init().catch((e) => {
  document.body.textContent = 'mmrace failed to start: ' + e;
});
