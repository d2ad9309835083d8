"""The version of atoll, read by the build and by ``atoll --version``."""

__version__ = "0.1.0.dev0"
