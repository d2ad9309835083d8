"""The kernel: configuration, dependency injection and lifecycle."""
