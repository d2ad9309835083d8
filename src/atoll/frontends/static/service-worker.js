const ATOLL = {"version": "dev", "precache": ["/"], "api": [], "fallback": "/", "rpc": {}, "fresh": [], "kept": 200};
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
//   - under an `api` prefix, network first: each answer is kept, under its URL and a hash of
//     the caller's token, and given back to the same caller when the network fails, so an
//     offline page shows the last data it had (never another caller's);
//   - a precached URL, cache first: the shell opens without the network; but a `fresh` one
//     (a shell's page, composed as its services are now) from the network first, the
//     precached copy offline;
//   - a page (a navigation) not precached: the network, else the `fallback` page.
// - fetch, POST to a JSON-RPC endpoint of `rpc` (this origin): a call of a method that only
//   reads (the endpoint's list) is answered from the network first, its result kept under
//   its method and parameters (not its id), and given back offline with the call's own id.
//   Any other call (a command, a batch, a notification) goes to the network alone: a kept
//   answer to a command would say it was done when it was not.
// - the answers kept: none marked `Cache-Control: no-store`, the `kept` latest at most (the
//   oldest goes first), and none at all once the page posts {type: 'forget-answers'} (the
//   element glue does when the caller logs out).
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
const FRESH = new Set(ATOLL.fresh.map((path) => new URL(path, self.location.origin).href));
const READS = new Map(
  Object.entries(ATOLL.rpc).map(([path, methods]) => [
    new URL(path, self.location.origin).href,
    new Set(methods),
  ]),
);

self.addEventListener('install', (event) => {
  event.waitUntil(precache());
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    Promise.all([removeOtherVersions(), removeUnkeyed()]).then(() => self.clients.claim()),
  );
});

// How many times the kept answers were forgotten: an answer fetched before the last time
// (the caller who asked has logged out since) is not kept.
let forgotten = 0;

self.addEventListener('message', (event) => {
  if (event.data && event.data.type === 'skip-waiting') {
    self.skipWaiting();
  } else if (event.data && event.data.type === 'forget-answers') {
    forgotten += 1;
    event.waitUntil(caches.delete(API_CACHE));
  }
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const reads = request.method === 'POST' ? READS.get(url.origin + url.pathname) : undefined;
  if (reads !== undefined && reads.size > 0) {
    event.respondWith(rpcCall(event, reads));
    return;
  }
  // Anything else (a POST, another origin's file) goes to the network untouched, as without
  // a worker: the Cache API keeps GET answers only.
  if (request.method !== 'GET' || url.origin !== self.location.origin) {
    return;
  }
  if (isApi(url.pathname)) {
    event.respondWith(networkFirst(event));
  } else if (FRESH.has(url.href)) {
    event.respondWith(freshFirst(request));
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

// An older worker kept GET answers under their URL alone, whoever asked: they go, so that no
// caller is ever given them. Every answer kept now is under a key (getKeyOf, keyOf).
async function removeUnkeyed() {
  if (!(await caches.has(API_CACHE))) {
    return;
  }
  const cache = await caches.open(API_CACHE);
  const unkeyed = (await cache.keys()).filter((request) => {
    const params = new URL(request.url).searchParams;
    return !params.has('atoll-get') && !params.has('atoll-rpc');
  });
  await Promise.all(unkeyed.map((request) => cache.delete(request)));
}

function isApi(path) {
  return ATOLL.api.some((prefix) => path === prefix || path.startsWith(prefix.endsWith('/') ? prefix : `${prefix}/`));
}

// A GET under an API prefix: the Cache API matches by URL alone, not by `Authorization`, so
// the answer is kept under a key naming its caller too (see getKeyOf).
async function networkFirst(event) {
  const key = await getKeyOf(event.request);
  const era = forgotten;
  try {
    const response = await fetch(event.request);
    if (response.ok && keepable(response)) {
      // Kept while the page reads the answer, not before: the page need not wait for the cache.
      event.waitUntil(keep(key, response.clone(), era));
    }
    return response;
  } catch (error) {
    const kept = await (await caches.open(API_CACHE)).match(key, { ignoreVary: true });
    if (kept) {
      return kept;
    }
    throw error;
  }
}

// The GET a GET's answer is kept under: the scope, the whole URL asked for as one parameter
// (no address asked for is ever a key, nor two of them the same key), and a hash of the
// caller's token; a caller without one is given only what was kept without one.
async function getKeyOf(request) {
  const key = new URL(self.registration.scope);
  key.search = '';
  key.searchParams.set('atoll-get', request.url);
  const caller = await callerOf(request);
  if (caller) {
    key.searchParams.set('caller', caller);
  }
  return new Request(key.href);
}

// A hash of the caller's token (its `Authorization`), or null for a caller without one.
async function callerOf(request) {
  const token = request.headers.get('authorization');
  if (!token) {
    return null;
  }
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, '0')).join('');
}

// Whether an answer may be kept: not when it says `no-store` (a token, a one-time secret).
// `private` is kept: it forbids the caches shared by several users, and this one is the
// caller's own browser, its answers given back to the same caller only.
function keepable(response) {
  const control = response.headers.get('cache-control') || '';
  return !control
    .split(',')
    .some((directive) => directive.split('=')[0].trim().toLowerCase() === 'no-store');
}

// Keep `response` under `key`, unless the answers were forgotten since it was asked for
// (`era`); then only the `kept` latest answers stay, the oldest going first (a cache's keys
// come in the order they were put, a new answer to a key moving it last).
async function keep(key, response, era) {
  if (era !== forgotten) {
    return;
  }
  const cache = await caches.open(API_CACHE);
  try {
    await cache.put(key, response);
  } catch {
    return; // an answer the Cache API refuses (`Vary: *`) is not kept
  }
  if (era !== forgotten) {
    await cache.delete(key); // forgotten while it was being put
    return;
  }
  const keys = await cache.keys();
  const oldest = keys.slice(0, Math.max(0, keys.length - ATOLL.kept));
  await Promise.all(oldest.map((each) => cache.delete(each)));
}

// A JSON-RPC call: network first when it calls a method that only reads, else the network.
async function rpcCall(event, reads) {
  const request = event.request;
  let call = null;
  try {
    call = await request.clone().json();
  } catch {
    return fetch(request); // not JSON: the endpoint says why
  }
  const single = call !== null && typeof call === 'object' && !Array.isArray(call);
  if (!single || !reads.has(call.method) || call.id === undefined || call.id === null) {
    return fetch(request);
  }
  const key = await keyOf(request, call);
  const era = forgotten;
  try {
    const response = await fetch(request);
    if (response.ok && keepable(response)) {
      event.waitUntil(keepResult(key, response.clone(), era));
    }
    return response;
  } catch (error) {
    const kept = await (await caches.open(API_CACHE)).match(key);
    if (!kept) {
      throw error;
    }
    const { result } = await kept.json();
    const reply = JSON.stringify({ jsonrpc: '2.0', id: call.id, result });
    return new Response(reply, {
      headers: { 'content-type': 'application/json', 'x-atoll-offline': ATOLL.version },
    });
  }
}

// Keep a result, never an error: the call is worth giving again only when it succeeded.
async function keepResult(key, response, era) {
  const reply = await response.json();
  if (reply && typeof reply === 'object' && 'result' in reply && !reply.error) {
    const body = JSON.stringify({ result: reply.result });
    await keep(key, new Response(body, { headers: { 'content-type': 'application/json' } }), era);
  }
}

// The GET a call is kept under: its endpoint, method and parameters (keys sorted), and a hash
// of the caller's token, so that one caller's data is never given to another.
async function keyOf(request, call) {
  const url = new URL(request.url);
  url.search = '';
  url.searchParams.set('atoll-rpc', call.method);
  url.searchParams.set('params', canonical(call.params === undefined ? null : call.params));
  const caller = await callerOf(request);
  if (caller) {
    url.searchParams.set('caller', caller);
  }
  return new Request(url.href);
}

// JSON with every object's keys sorted: the same parameters, the same key.
function canonical(value) {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonical(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

async function cacheFirst(request) {
  const cache = await caches.open(PRECACHE);
  return (await cache.match(request)) || fetch(request);
}

// The version's precached copy is kept as it was: its files are the ones precached with it.
async function freshFirst(request) {
  try {
    return await fetch(request);
  } catch (error) {
    const cache = await caches.open(PRECACHE);
    const kept = await cache.match(request);
    if (kept) {
      return kept;
    }
    throw error;
  }
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
