"""Accounts, sessions, API tokens, roles and per-connection grants (framework-free)."""
