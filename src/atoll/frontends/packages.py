"""The JavaScript packages a build takes from the npm registry: Preact, pinned by a lock file.

atoll ships ``package.json`` and ``package-lock.json`` (``atoll/frontends/npm/``); a build
installs them once with ``npm ci``, the lock's exact versions and integrity hashes, into a
cache directory named by the lock's hash, and copies the modules it needs into each build. A
page never loads anything from a CDN: the service serves Preact with its own modules.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from atoll.errors import BuildError

__all__ = ["LOCK", "PREACT", "installed_packages"]

_NPM = Path(__file__).resolve().parent / "npm"
LOCK = _NPM / "package-lock.json"
"""The lock file pinning every package a build takes from the npm registry."""
PREACT = Path("preact") / "dist" / "preact.mjs"
"""Preact's ES module, within ``node_modules``."""

_log = logging.getLogger("atoll.frontends")


def installed_packages(cache: Path | None = None) -> Path:
    """The ``node_modules`` directory of the locked packages, installed by ``npm ci`` once.

    ``cache``: where installs are kept, one directory per lock; ``$XDG_CACHE_HOME/atoll/npm``
    (``~/.cache/atoll/npm``) when not given.

    Raises:
        BuildError: npm is not installed, or could not install the packages.
    """
    lock = LOCK.read_bytes()
    manifest = (_NPM / "package.json").read_bytes()
    key = hashlib.sha256(manifest + b"\0" + lock).hexdigest()[:16]
    if cache is None:
        home = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        cache = Path(home) / "atoll" / "npm"
    installed = cache / key
    if (installed / "node_modules" / PREACT).is_file():
        return installed / "node_modules"
    npm = shutil.which("npm")
    if npm is None:
        raise BuildError(
            "npm is not installed, and a build takes Preact from the npm registry with it: "
            "install Node.js and npm (apt-get install nodejs npm)"
        )
    _log.info("installing Preact from the npm registry (once, into %s)", installed)
    cache.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=key + ".", dir=cache))
    try:
        shutil.copy(_NPM / "package.json", scratch / "package.json")
        shutil.copy(LOCK, scratch / "package-lock.json")
        finished = subprocess.run(  # noqa: S603 - npm, found on PATH, with fixed arguments
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=scratch,
            capture_output=True,
            text=True,
            check=False,
        )
        if finished.returncode != 0:
            raise BuildError(
                f"npm ci could not install the packages of {LOCK} (exit status "
                f"{finished.returncode}); is the npm registry reachable?\n"
                + (finished.stdout + finished.stderr).strip()
            )
        try:
            scratch.rename(installed)  # whole or not at all: another build may race this one
        except OSError:
            if not (installed / "node_modules" / PREACT).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return installed / "node_modules"
