"""One module per third-party library atoll adapts; the only place that library is imported."""
