const ATOLL = {"version": "dev", "precache": ["/"], "api": [], "fallback": "/"};
// atoll's service worker: a service's pages, kept for offline use.
//
// atoll.frontends.offline.service_worker() writes the configuration above (this file's first
// line, always) and serves the rest as it is: no Workbox, no CDN, nothing fetched but the
// service's own addresses.
//
// - install: every URL of `precache` goes into a cache named by `version` (fetched past the
//   HTTP cache, so a new version never keeps an old file);
// - activate: the caches of other versions go, and the worker takes the open pages;
// - fetch, GET of this origin only:
//   - under an `api` prefix, network first: each answer is kept, and given back when the
//     network fails, so an offline page shows the last data it had;
//   - a precached URL, cache first: the shell opens without the network;
//   - a page (a navigation) not precached: the network, else the `fallback` page.
// - update: a new version installs, then waits (no skipWaiting of its own), since the open
//   pages run the old version's files. The page offers the update (offline.js) and posts
//   {type: 'skip-waiting'} when the user takes it; it reloads when the new worker takes over.

// The caches are named by the registration's scope too: two services on one origin each
// have their worker, and one's activation must not delete the other's caches.
const PREFIX = `atoll ${self.registration.scope} `;
const PRECACHE = `${PREFIX}precache ${ATOLL.version}`;
const API_CACHE = `${PREFIX}api`;
const PRECACHED = new Set(ATOLL.precache.map((path) => new URL(path, self.location.origin).href));
const FALLBACK = new URL(ATOLL.fallback, self.location.origin).href;

self.addEventListener('install', (event) => {
  event.waitUntil(precache());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(removeOtherVersions().then(() => self.clients.claim()));
});

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') {
    self.skipWaiting();
  }
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  // Anything else (a POST, another origin's file) goes to the network untouched, as without
  // a worker: the Cache API keeps GET answers only.
  if (request.method !== 'GET' || url.origin !== self.location.origin) {
    return;
  }
  if (isApi(url.pathname)) {
    event.respondWith(networkFirst(event));
  } else if (PRECACHED.has(url.href)) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === 'navigate') {
    event.respondWith(pageOrFallback(request));
  }
});

async function precache() {
  const cache = await caches.open(PRECACHE);
  // 'reload' skips the HTTP cache: a file cached for an hour would outlive its version.
  await cache.addAll(ATOLL.precache.map((path) => new Request(path, { cache: 'reload' })));
}

async function removeOtherVersions() {
  const names = await caches.keys();
  const stale = names.filter((name) => name.startsWith(`${PREFIX}precache `) && name !== PRECACHE);
  await Promise.all(stale.map((name) => caches.delete(name)));
}

function isApi(path) {
  return ATOLL.api.some((prefix) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
}

async function networkFirst(event) {
  const cache = await caches.open(API_CACHE);
  try {
    const response = await fetch(event.request);
    if (response.ok) {
      // Kept while the page reads the answer, not before: the page need not wait for the cache.
      event.waitUntil(cache.put(event.request, response.clone()));
    }
    return response;
  } catch (error) {
    const kept = await cache.match(event.request);
    if (kept) {
      return kept;
    }
    throw error;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(PRECACHE);
  return (await cache.match(request)) || fetch(request);
}

async function pageOrFallback(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const cache = await caches.open(PRECACHE);
    const page = await cache.match(FALLBACK);
    if (page) {
      return page;
    }
    throw error;
  }
}
