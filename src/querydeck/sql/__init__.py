"""Statement checks and rewrites: the guard (read-only allow-list) and the auto-LIMIT."""
