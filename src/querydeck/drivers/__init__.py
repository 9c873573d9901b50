"""Data-source drivers: the contract in :mod:`querydeck.drivers.base`, discovery in
:mod:`querydeck.drivers.registry`."""
