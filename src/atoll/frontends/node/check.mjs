// Loads a build's modules in Node, and renders each component with no attribute set.
//
//   node check.mjs DIRECTORY REQUEST
//
// REQUEST is JSON: {"modules": ["hello.js", ...], "components": [{"module": "hello.js",
// "name": "Hello", "observed": ["name"]}, ...]}. Prints JSON: {"modules": {file: error or
// null}, "components": {name: {"html": ..., "error": ...}}, "defined": [tag, ...]}; the
// build compares each HTML
// with what CPython renders from the same view, since Transcrypt's mistakes are silent.

import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const [directory, request] = process.argv.slice(2);
const asked = JSON.parse(request);
const url = (file) => pathToFileURL(join(directory, file)).href;
const said = (error) => (error && error.stack ? String(error.stack) : String(error));

// Enough of a browser for components.js to define its elements: which tags it defined is
// part of the report.
const defined = [];
globalThis.HTMLElement = class HTMLElement {};
globalThis.customElements = {
  get: () => undefined,
  define: (tag) => defined.push(tag),
};

const report = { modules: {}, components: {}, defined };
for (const file of asked.modules) {
  try {
    await import(url(file));
    report.modules[file] = null;
  } catch (error) {
    report.modules[file] = said(error);
  }
}

const { dict } = await import(url('org.transcrypt.__runtime__.js'));
const { render } = await import(url('atoll.frontends.elements.js'));
const { toVNode } = await import(url('atoll-elements.js'));

for (const component of asked.components) {
  const shown = { html: null, error: null };
  try {
    const module = await import(url(component.module));
    const made = module[component.name];
    if (typeof made !== 'function') {
      throw new Error(`${component.module} exports no ${component.name}`);
    }
    const props = {};
    for (const name of component.observed) {
      props[name] = null;
    }
    const tree = made(dict(props)).rendered();
    toVNode(tree); // what the element gives Preact
    shown.html = render(tree);
  } catch (error) {
    shown.error = said(error);
  }
  report.components[component.name] = shown;
}
process.stdout.write(JSON.stringify(report));
