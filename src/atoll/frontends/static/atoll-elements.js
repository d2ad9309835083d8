// atoll's component glue: a Component written in Python, compiled by Transcrypt, as a custom
// element whose shadow root Preact renders.
//
// A build copies this module next to the compiled ones, with Preact's, so that the relative
// imports below resolve in the build's directory: no import map, no CDN.
//
//   import { define } from './atoll-elements.js';
//   import { Hello } from './hello.js';
//   define(Hello);   // <mything-hello name="Bob"> shows "Hello Bob!"
//
// What it keeps right, where hand-written glue went wrong before:
// - the observed attributes are the element's `observedAttributes`, so a change renders again;
// - the shadow root is made once, in the constructor (or taken from the server's declarative
//   one), never in `connectedCallback`, which runs again when the element is moved;
// - `disconnectedCallback` unmounts the tree (its listeners go) and calls the component's
//   `disconnected()`; connected again, it renders again from the state it kept.

import { Fragment, h, hydrate, render } from './preact.mjs';
import { dict } from './org.transcrypt.__runtime__.js';
import { CallError } from './atoll.frontends.component.js';

const FRAGMENT = '#fragment';
const RENAMED = { class_name: 'class', html_for: 'for', http_equiv: 'http-equiv' };

// The HTML attribute of a prop: `user_id` is `user-id`, as the server writes it.
export function attributeName(prop) {
  return prop.replace(/_/g, '-');
}

// A view's tree (atoll.frontends.elements: elements, text, numbers, lists, None) as Preact's.
export function toVNode(node) {
  if (node === null || node === undefined || node === true || node === false) {
    return null;
  }
  if (Array.isArray(node)) {
    return node.map(toVNode);
  }
  if (typeof node === 'object' && typeof node.tag === 'string' && Array.isArray(node.children)) {
    const children = node.children.map(toVNode);
    if (node.tag === FRAGMENT) {
      return h(Fragment, null, ...children);
    }
    return h(node.tag, toProps(node.props), ...children);
  }
  return String(node);
}

// A view's props as Preact's: names as HTML writes them, handlers as `on` + the event's name.
function toProps(props) {
  const shown = {};
  for (const name of Object.keys(props)) {
    const value = props[name];
    if (value === null || value === undefined) {
      continue;
    }
    if (name.startsWith('on_')) {
      // on_click listens to "click", on_run_saved to "run-saved" (a component's own event).
      shown['on' + name.slice(3).replace(/_/g, '-')] = value;
    } else if (name === 'style' && typeof value === 'object') {
      shown.style = Object.keys(value)
        .sort()
        .map((key) => key.replace(/_/g, '-') + ': ' + value[key])
        .join('; ');
    } else {
      shown[RENAMED[name] || name.replace(/_/g, '-')] = value;
    }
  }
  return shown;
}

// The JSON-RPC endpoint of the service this build belongs to, from its manifest, which lies
// beside the build's directory: read once.
let endpoint = null;

function endpointOf() {
  if (endpoint === null) {
    const manifest = new URL('../fragments.json', import.meta.url);
    endpoint = fetch(manifest)
      .then((answer) => {
        if (!answer.ok) {
          throw new Error(`${manifest} answered ${answer.status}`);
        }
        return answer.json();
      })
      .then((found) => ({
        url: new URL(found.rpc.url, manifest),
        prefix: found.rpc.prefix,
        reads: new Set(found.reads || []),
        graphql: found.graphql ? new URL(found.graphql.url, manifest) : null,
      }))
      .catch((error) => {
        endpoint = null; // asked again at the next call
        throw error;
      });
  }
  return endpoint;
}

// Where a page keeps the caller's token: a component that logs in sets it.
export const TOKEN_KEY = 'atoll.token';
// Where it keeps the refresh token that gets the next one, when the login gave one.
export const REFRESH_KEY = 'atoll.refresh';
// The JSON-RPC code of a call refused for its token: none, expired, revoked.
const UNAUTHENTICATED = -32012;

let calls = 0;

// What gets the page new tokens when a call is refused for its token (`host.refresh_with`),
// and the refresh under way, which every call refused meanwhile waits for. Kept by the page,
// not this module: each service's build has its own copy of it, and a component of one
// service renews the token the others call with.
const session = (globalThis[Symbol.for('atoll.session')] ??= { refresher: null, refreshing: null });

// Register `callback`, an async function that gets new tokens and keeps them, answering
// whether it did; returns what unregisters it.
export function refreshWith(callback) {
  session.refresher = callback;
  return () => {
    if (session.refresher === callback) {
      session.refresher = null;
    }
  };
}

// Whether the page has a token other than `used` now: one renewed meanwhile (by another
// call's refresh, or another tab's), or one the refresher got. The refresh token is spent
// once: one refresh at a time, which every call refused meanwhile waits for. While it runs,
// the page's access token is put aside, so that the refresh itself goes without it. A failed
// refresh forgets the session, unless another renewed it meanwhile.
async function renewed(used) {
  const now = localStorage.getItem(TOKEN_KEY);
  if (now !== null && now !== used) {
    return true;
  }
  if (session.refreshing === null) {
    const spent = localStorage.getItem(REFRESH_KEY);
    if (session.refresher === null || spent === null) {
      return false;
    }
    localStorage.removeItem(TOKEN_KEY);
    session.refreshing = Promise.resolve()
      .then(session.refresher)
      .then(Boolean, () => false)
      .then((done) => {
        if (!done && localStorage.getItem(REFRESH_KEY) === spent) {
          localStorage.removeItem(TOKEN_KEY);
          localStorage.removeItem(REFRESH_KEY);
        }
        return done && localStorage.getItem(TOKEN_KEY) !== null;
      })
      .finally(() => {
        session.refreshing = null;
      });
  }
  return session.refreshing;
}

// The reads made before a service worker controlled the page (a first visit's): sent again
// once one does, through it, so that it keeps their answers for the page to show offline.
// Each read once (by method and parameters), and the latest few: a page no worker ever
// controls keeps no more.
const workers = globalThis.navigator ? globalThis.navigator.serviceWorker : undefined;
const unkept = new Map();
const UNKEPT_AT_MOST = 64;

if (workers) {
  workers.addEventListener('controllerchange', () => {
    const sent = Array.from(unkept.values());
    unkept.clear();
    for (const [url, request] of sent) {
      fetch(url, request).catch(() => {}); // only for the worker to keep: nobody waits
    }
  });
}

// Call `method` of the service with `params` (a dict); the result, or a CallError (the
// Python class, so that `except CallError` catches it) carrying the JSON-RPC error's
// `code`, `message` and `data`. The caller's token, if the page has one, goes as a bearer
// token.
export async function call(method, params) {
  try {
    return await sent(method, params);
  } catch (error) {
    if (error instanceof Error) {
      // not answered: no network, no manifest, an answer that is not JSON
      throw CallError(`the service could not be reached (${error.message})`, null, null);
    }
    throw error;
  }
}

async function sent(method, params, again = true) {
  const { url, prefix, reads } = await endpointOf();
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  const token = globalThis.localStorage ? localStorage.getItem(TOKEN_KEY) : null;
  if (token) {
    headers.authorization = 'Bearer ' + token;
  }
  calls += 1;
  const body = { jsonrpc: '2.0', id: calls, method: prefix + method, params: params || {} };
  const request = { method: 'POST', headers, body: JSON.stringify(body) };
  if (workers && !workers.controller && reads.has(body.method)) {
    const read = JSON.stringify([url.href, body.method, body.params, token]);
    unkept.delete(read);
    unkept.set(read, [url, request]);
    if (unkept.size > UNKEPT_AT_MOST) {
      unkept.delete(unkept.keys().next().value);
    }
  }
  const answer = await fetch(url, request);
  const reply = await answer.json();
  if (reply.error) {
    // Refused for its token (expired, say): sent once more with the next one, if the page
    // has a way to get it.
    if (reply.error.code === UNAUTHENTICATED && again && (await renewed(token))) {
      return sent(method, params, false);
    }
    throw CallError(reply.error.message, reply.error.code, reply.error.data ?? null);
  }
  return reply.result;
}

// The protocol of GraphQL over a WebSocket that atoll serves (graphql-transport-ws).
const GRAPHQL_WS = 'graphql-transport-ws';
// The longest pause before a subscription closed is opened again, in seconds.
const LONGEST_PAUSE = 30;

// Subscribe to `query`, a GraphQL subscription of the component's service, with `variables`:
// `callback(data)` for each event it shows, over a WebSocket, with the page's token. A
// connection that closes (the service restarted, the network gone) is opened again after a
// pause that doubles up to LONGEST_PAUSE seconds, with the token the page has then; one
// refused for its token waits for the page's refresh first. `opened()`, if given, is called
// each time the subscription starts: the events of a moment without one are lost, so ask
// then for what they would have told. Returns what stops it.
export function subscribe(query, variables, callback, opened) {
  let socket = null;
  let stopped = false;
  let timer = null;
  let pause = 1;

  function again() {
    if (!stopped) {
      timer = setTimeout(open, pause * 1000);
      pause = Math.min(pause * 2, LONGEST_PAUSE);
    }
  }

  async function open() {
    let address = null;
    try {
      address = (await endpointOf()).graphql;
    } catch {
      again(); // no manifest now: the service may be down
      return;
    }
    if (stopped) {
      return;
    }
    if (address === null) {
      console.error(`${query} cannot be subscribed to: the service serves no GraphQL`);
      return;
    }
    const url = new URL(address);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const token = globalThis.localStorage ? localStorage.getItem(TOKEN_KEY) : null;
    const connection = new WebSocket(url, GRAPHQL_WS);
    socket = connection;
    let refused = false;
    connection.onopen = () => {
      const payload = token ? { authorization: 'Bearer ' + token } : {};
      connection.send(JSON.stringify({ type: 'connection_init', payload }));
    };
    connection.onmessage = (message) => {
      const got = JSON.parse(message.data);
      if (got.type === 'connection_ack') {
        pause = 1;
        const payload = { query, variables: variables || {} };
        connection.send(JSON.stringify({ id: '1', type: 'subscribe', payload }));
        if (opened) {
          opened();
        }
      } else if (got.type === 'next' && got.payload) {
        const errors = got.payload.errors || [];
        if (errors.some((error) => (error.extensions || {}).code === 'UNAUTHENTICATED')) {
          refused = true;
        } else if (got.payload.data) {
          callback(got.payload.data);
        }
      } else if (got.type === 'ping') {
        connection.send(JSON.stringify({ type: 'pong' }));
      } else if (got.type === 'error' || got.type === 'complete') {
        connection.close();
      }
    };
    connection.onclose = () => {
      if (socket === connection) {
        socket = null;
      }
      if (stopped) {
        return;
      }
      if (refused) {
        renewed(token).then(again, again);
      } else {
        again();
      }
    };
  }

  open();
  return () => {
    stopped = true;
    clearTimeout(timer);
    if (socket !== null) {
      socket.close();
    }
  };
}

// Forget the answers kept for the caller who logs out: the reads waiting to be sent again
// (with the token), and those the service worker keeps for offline (atoll's deletes them
// when told: static/service-worker.js), so that none stays on the device.
function forgetAnswers() {
  unkept.clear();
  if (!workers) {
    return;
  }
  const message = { type: 'forget-answers' };
  if (workers.controller) {
    workers.controller.postMessage(message);
    return;
  }
  // a worker installed that has not taken the page yet keeps answers all the same
  workers
    .getRegistration()
    .then((registration) => registration?.active?.postMessage(message))
    .catch(() => {});
}

// What the page's token says of its holder (its claims: `sub`, `scope`, `exp`...), read
// without checking it (the services do that): for a component to know whose data to ask for.
export function claims() {
  const token = globalThis.localStorage ? localStorage.getItem(TOKEN_KEY) : null;
  if (!token || token.split('.').length !== 3) {
    return null;
  }
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(payload + '='.repeat((4 - (payload.length % 4)) % 4)));
  } catch {
    return null;
  }
}

const sheets = new Map();

// The component's styles as one constructed sheet, shared by every element of its class.
function sheetsOf(component) {
  if (!component.styles) {
    return [];
  }
  if (!sheets.has(component)) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(component.styles);
    sheets.set(component, sheet);
  }
  return [sheets.get(component)];
}

// What a console message calls `component`: its class's name, and the build it comes from
// (/ui/<service>/<version>/), which names its service.
function described(component, source) {
  const name = (component && (component.__name__ || component.name)) || 'a class';
  return source ? `${name} of ${source}` : `${name} of a script of the page`;
}

// Register `component` (a compiled Component subclass) as the custom element of its tag.
//
// A tag is defined once in a page: when another class has it already (another service's,
// whose component took the same tag), the element stays the first one's, and the console
// says so, naming both, for one of them to take another tag.
export function define(component) {
  const tag = component.tag;
  const source = new URL('.', import.meta.url).href;
  const existing = customElements.get(tag);
  if (existing !== undefined) {
    if (existing.atollComponent !== component) {
      console.error(
        `<${tag}> of ${described(component, source)} is not defined: the page has it ` +
          `already, from ${described(existing.atollComponent, existing.atollSource)}; give ` +
          'one of the two components another tag',
      );
    }
    return existing;
  }
  const observed = Array.from(component.observed || []);
  const attributes = observed.map(attributeName);
  for (const name of observed) {
    if (name in HTMLElement.prototype) {
      throw new Error(
        `${tag} observes "${name}", a property every HTML element has: choose another name`,
      );
    }
  }

  class ComponentElement extends HTMLElement {
    static get observedAttributes() {
      return attributes;
    }

    // Which component, of which build, the element is: for define() to name on a collision.
    static get atollComponent() {
      return component;
    }

    static get atollSource() {
      return source;
    }

    constructor() {
      super();
      // Rendered on the server: the declarative shadow root is here already, and hydrated.
      this._hydrating = this.shadowRoot !== null;
      const root = this.shadowRoot || this.attachShadow({ mode: 'open' });
      for (const child of Array.from(root.children)) {
        if (child.localName === 'style') {
          child.remove(); // the server's copy of the sheet adopted below
        }
      }
      root.adoptedStyleSheets = sheetsOf(component);
      this._props = {};
      for (const name of observed) {
        this._props[name] = null;
      }
      this._component = null;
    }

    connectedCallback() {
      if (this._component === null) {
        // Props the server rendered with that an attribute cannot hold (numbers, lists,
        // dicts): JSON in data-props, so the first render here sees what the server's saw.
        const typed = this.hasAttribute('data-props') ? JSON.parse(this.dataset.props) : {};
        observed.forEach((name, index) => {
          // A property set before the element was defined hides the accessor: take its value.
          if (Object.prototype.hasOwnProperty.call(this, name)) {
            const value = this[name];
            delete this[name];
            this._props[name] = value;
          } else if (this.hasAttribute(attributes[index])) {
            this._props[name] = this.getAttribute(attributes[index]);
          } else if (Object.prototype.hasOwnProperty.call(typed, name)) {
            this._props[name] = typed[name];
          }
        });
        this._component = component(dict(this._props));
        this._component.host = this;
      }
      this.refresh();
      this._component.connected();
    }

    disconnectedCallback() {
      if (this._component !== null) {
        this._component.disconnected();
      }
      render(null, this.shadowRoot);
    }

    attributeChangedCallback(attribute, previous, value) {
      this._set(observed[attributes.indexOf(attribute)], value);
    }

    _set(name, value) {
      this._props[name] = value;
      if (this._component !== null) {
        this._component.props = dict(this._props);
        if (this.isConnected) {
          this.refresh();
        }
      }
    }

    // Render the component's view of its props and state into the shadow root.
    refresh() {
      const tree = toVNode(this._component.rendered());
      if (this._hydrating) {
        this._hydrating = false;
        hydrate(tree, this.shadowRoot);
      } else {
        render(tree, this.shadowRoot);
      }
    }

    // Call a method of the component's service: `await self.host.call("record_run", {...})`
    // in Python, or through its typed client (atoll frontends client).
    call(method, params) {
      return call(method, params);
    }

    // Subscribe to a GraphQL subscription of the component's service: `callback(data)` for
    // each event, `opened()` each time it starts; returns what stops it (call it in
    // `disconnected`).
    subscribe(query, variables, callback, opened) {
      return subscribe(query, variables, callback, opened);
    }

    // Keep the caller's token for the calls of every component of the page (after a login),
    // with the refresh token that gets the next one when given; or forget both with None (a
    // logout), and with them every answer kept for the page.
    remember_token(token, refresh_token) {
      if (token === null || token === undefined) {
        localStorage.removeItem(TOKEN_KEY);
        localStorage.removeItem(REFRESH_KEY);
        forgetAnswers();
        return;
      }
      localStorage.setItem(TOKEN_KEY, token);
      if (refresh_token !== null && refresh_token !== undefined) {
        localStorage.setItem(REFRESH_KEY, refresh_token);
      }
    }

    // The refresh token kept with the page's token, or None.
    refresh_token() {
      return localStorage.getItem(REFRESH_KEY);
    }

    // Let `callback` (async, answering whether it got new tokens and kept them) renew the
    // page's token when a call is refused for it; the call is then sent again. Returns what
    // stops it (call it in `disconnected`).
    refresh_with(callback) {
      return refreshWith(callback);
    }

    // What the page's token says of its holder, or None: see claims().
    claims() {
      return claims();
    }

    // Tell every component of the page that `name` happened (a login, a run recorded), with
    // `detail`: a window event, which crosses the shadow roots.
    announce(name, detail) {
      window.dispatchEvent(new CustomEvent(name, { detail: detail ?? null }));
    }

    // Call `callback(detail)` each time `name` is announced; returns what stops it (call it
    // in `disconnected`).
    listen(name, callback) {
      const listener = (event) => callback(event.detail);
      window.addEventListener(name, listener);
      return () => window.removeEventListener(name, listener);
    }

    // Call `callback()` in `seconds`; returns what cancels it.
    later(seconds, callback) {
      const timer = setTimeout(callback, seconds * 1000);
      return () => clearTimeout(timer);
    }

    // The time now, as an ISO 8601 text in UTC (what a datetime parameter takes).
    now() {
      return new Date().toISOString();
    }

    // The component showing in this element (for tests and the page's own scripts).
    get component() {
      return this._component;
    }
  }

  for (const name of observed) {
    if (name in ComponentElement.prototype || name.startsWith('_')) {
      // The build refuses these names (HOST_MEMBERS): a prop would replace the element's own.
      throw new Error(
        `${tag} observes "${name}", which its element has as its own: choose another name`,
      );
    }
  }
  for (const name of observed) {
    Object.defineProperty(ComponentElement.prototype, name, {
      get() {
        return this._props[name];
      },
      set(value) {
        this._set(name, value);
      },
    });
  }
  customElements.define(tag, ComponentElement);
  return ComponentElement;
}
