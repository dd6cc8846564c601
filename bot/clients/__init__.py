"""HTTP clients of the backends the flows invoke (ports in flows/ports.py); the bot reaches
backends only over HTTP."""
