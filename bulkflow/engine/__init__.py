"""The worker pool and one target's path: feed, fetch, plan, send, re-plan, record."""
