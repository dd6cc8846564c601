"""Reference implementations of the services the assistant invokes over HTTP."""
