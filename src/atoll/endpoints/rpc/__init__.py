"""JSON-RPC 2.0: the engine, the methods it answers, OpenRPC, and the engines of a process.

The engines know no transport: HTTP serves them at the RPC path, the broker link over broker
RPC, and in-process clients call them directly.
"""
