"""Registered connections: the saved configuration of a data source (its driver, typed
options and sealed secrets), the key that seals them and its rotation, uploaded CA
certificates, and the checks run when a connection is saved, tested or used (where it
points, what its login may do)."""
