"""The JWT adapter: bearer tokens verified with pyjwt's algorithms, keys from PEM, JWK or a JWKS.

- :mod:`~atoll.adapters.jwt.verifier`: :class:`JwtVerifier`, the
  :class:`~atoll.security.tokens.TokenVerifier` of JWTs of one issuer, and
  :class:`IssuersVerifier` of several;
- :mod:`~atoll.adapters.jwt.keys`: the keys, each pinned to its algorithms when loaded;
- :mod:`~atoll.adapters.jwt.jwks`: the issuer's JWKS, fetched, kept and fetched again.

The only package of atoll that imports pyjwt (``pip install "atoll[jwt]"``).
"""

from atoll.adapters.jwt.verifier import IssuersVerifier, JwtVerifier, verifier_for

__all__ = ["IssuersVerifier", "JwtVerifier", "verifier_for"]
