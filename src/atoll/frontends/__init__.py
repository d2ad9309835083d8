"""UI components written in Python, compiled to JavaScript: a service's own microfrontends.

A service will ship the pieces of its UI as Python classes that Transcrypt
(``pip install "atoll[frontends]"``) compiles to JavaScript, packaged as Web Components
rendered by Preact, served by the service, composed by a shell page and kept offline by a
service worker. Today the package holds:

- :mod:`~atoll.frontends.elements`: element trees (``h(tag, props, *children)``) and their
  HTML, rendered on the server;
- :mod:`~atoll.frontends.component`: the ``Component`` base (a tag, observed attributes,
  styles, a view of props and state) and its first paint in a declarative shadow root;
- :mod:`~atoll.frontends.lint`, which reads a component's source and rejects the Python that
  Transcrypt compiles to wrong JavaScript without saying so, before it is compiled (the two
  modules above pass it: the browser will run them too);
- :mod:`~atoll.frontends.build` and :mod:`~atoll.frontends.serving`, which build the
  components into hashed ES modules and serve them;
- :mod:`~atoll.frontends.offline`: the service worker that keeps the pages and their last
  data offline, the module that offers its updates, and the web app manifest.

The compiler itself will be driven from ``atoll.adapters.transcrypt``, the one module that
imports it. Nothing here is imported by ``import atoll``.
"""
