"""Guided conversations, one module a flow, on the small machine in `flows.machine`."""
