"""Halmstads kommun's Skola24 assistant: the runtime."""
