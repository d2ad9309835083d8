// Keep a page working offline: register atoll's service worker, and offer its updates.
//
//   import { registerWorker } from '/offline.js';
//   registerWorker('/sw.js');   // a new version shows "Reload to update"
//
// A new version of the worker waits until the page says so (the open page runs the old
// version's files): this module shows a prompt, posts {type: 'skip-waiting'} to the waiting
// worker when it is clicked, and reloads the page once the new worker controls it.

// Register the worker at `url` (for `scope`, else the worker's directory), and call
// `onUpdate(worker)` when a new version waits: by default, the prompt below.
export async function registerWorker(url = '/sw.js', { scope, onUpdate = showUpdatePrompt } = {}) {
  if (!('serviceWorker' in navigator)) {
    return null;
  }
  const container = navigator.serviceWorker;
  let controller = container.controller;
  let reloading = false;
  container.addEventListener('controllerchange', () => {
    const before = controller;
    controller = container.controller;
    // A first visit's worker taking the page changes nothing it shows: only a new version
    // replacing the one the page loaded with calls for a reload.
    if (before !== null && !reloading) {
      reloading = true;
      window.location.reload();
    }
  });
  const registration = await container.register(url, scope === undefined ? {} : { scope });
  // A worker installed with none controlling the page is the first one, not an update.
  if (registration.waiting && container.controller) {
    onUpdate(registration.waiting);
  }
  registration.addEventListener('updatefound', () => {
    const worker = registration.installing;
    worker.addEventListener('statechange', () => {
      if (worker.state === 'installed' && container.controller) {
        onUpdate(worker);
      }
    });
  });
  return registration;
}

// A promise of the worker controlling this page, once one does.
export function controlled() {
  const container = navigator.serviceWorker;
  if (container.controller) {
    return Promise.resolve(container.controller);
  }
  return new Promise((resolve) => {
    container.addEventListener('controllerchange', () => resolve(container.controller), { once: true });
  });
}

// Let the waiting `worker` take over: the page reloads when it does.
export function acceptUpdate(worker) {
  worker.postMessage({ type: 'skip-waiting' });
}

// Show <div id="atoll-update"> with a "Reload to update" button at the foot of the page.
export function showUpdatePrompt(worker) {
  document.getElementById('atoll-update')?.remove();
  const prompt = document.createElement('div');
  prompt.id = 'atoll-update';
  prompt.setAttribute('role', 'status');
  prompt.style.cssText =
    'position: fixed; inset: auto 1rem 1rem; padding: 0.75rem 1rem; display: flex; gap: 1rem;' +
    ' align-items: center; background: #1f2933; color: #fff; border-radius: 0.5rem; font: 1rem sans-serif';
  const text = document.createElement('span');
  text.textContent = 'A new version is ready.';
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = 'Reload to update';
  button.addEventListener('click', () => {
    button.disabled = true;
    acceptUpdate(worker);
  });
  prompt.append(text, button);
  document.body.append(prompt);
}
