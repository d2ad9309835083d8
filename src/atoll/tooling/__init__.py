"""What ``atoll check`` and ``atoll graph`` read a project with: its files and its system's map.

:mod:`~atoll.tooling.project` finds a project's packages, modules, layers and tests;
:mod:`~atoll.tooling.system_map` models a system from its declarations and its source;
:mod:`~atoll.tooling.check` finds what breaks the rules, :mod:`~atoll.tooling.graph` and
:mod:`~atoll.tooling.picture` draw the map. Nothing here runs a service: the system's module
is imported, and :mod:`~atoll.tooling.import_work` imports each module of the project in a
child interpreter, where what the import does that it should not (a socket, a file written, a
process) is recorded and refused.
"""
