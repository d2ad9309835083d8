"""A service shipping microthings' examples, for ``atoll frontends build`` (not a test module)."""

from mything import Counter, Hello

import atoll

service = atoll.Service("mything")
service.components(Hello, Counter)

bare = atoll.Service("bare")
