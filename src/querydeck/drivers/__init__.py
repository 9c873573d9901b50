"""Data-source drivers: the contract in :mod:`querydeck.drivers.base`, discovery in
:mod:`querydeck.drivers.registry`; rows of DB-API cursors made into Arrow batches in
:mod:`.arrow_rows`, and columns cut out of a batch of wire-format rows with numpy in
:mod:`.columnar` (PostgreSQL's binary COPY, MySQL's text protocol)."""
