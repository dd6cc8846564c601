"""Channels translate between a service (web, Telegram, terminal) and the engine."""
