"""Statement checks and rewrites: the guard (read-only allow-list), its syntax errors in SQL
terms (``syntax``), the catalog reads an engine may allow (``metadata``) and the
auto-LIMIT."""
