"""Who is calling, and what they may do: the one point every transport passes through.

To hold: the request's ``Identity``; authenticators (JWT with JWKS, API tokens) configured per
service; policies declared beside each handler and enforced the same way on REST, JSON-RPC,
broker RPC, commands, events and in-process calls; rate limits; idempotency keys. It may
import the kernel, messaging and persistence; the endpoints and clients import it.
"""
