"""Session storage: the `SessionStore` port and its adapters."""
