"""The reference activation backend (Skola24 mobile-app activation), an aiohttp app."""
from .app import ActivationConfig, add_account, create_app, load_texts

__all__ = ["ActivationConfig", "add_account", "create_app", "load_texts"]
