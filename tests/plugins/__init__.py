"""Stand-ins for third-party packages, installed by tests through entry points."""
