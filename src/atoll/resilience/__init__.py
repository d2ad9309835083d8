"""What protects every outbound call: deadlines, retries, breakers, bulkheads, shedding.

To hold also the service registry port, with client-side load balancing. The clients use it;
it may import the kernel, messaging, security and observability, never a transport.
"""
