"""The reference activation backend (Skola24 mobile-app activation), an aiohttp app."""
from .app import ActivationConfig, QuerylessAccessLogger, add_account, create_app, load_texts

__all__ = ["ActivationConfig", "QuerylessAccessLogger", "add_account", "create_app", "load_texts"]
