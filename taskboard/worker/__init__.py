"""The worker side of tracking: signal handlers, their writes, batching, lease, reconciler."""
