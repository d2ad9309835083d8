"""What protects every outbound call: deadlines, retries, circuit breakers, bulkheads, load
shedding, and the service registry port with client-side load balancing.

The clients use it; it may import the kernel, messaging, security and observability, never
a transport.
"""
