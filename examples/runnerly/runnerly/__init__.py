"""Runnerly: a running club's system, the reference system of atoll.

Each service is a package in four layers, each importing only the ones below it:
``model`` (entities and value objects, pure), ``domain`` (ports and domain rules),
``application`` (commands and the use cases), ``infrastructure`` (adapters).
"""
