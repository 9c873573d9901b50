"""The application: the :class:`~querydeck.app.workbench.Workbench` that wires one service
per noun (runs, saved queries, catalog, connections, accounts, grants, preferences,
administration) and the start-up work of :meth:`~querydeck.app.workbench.Workbench.open`.
The API and the CLI call the services; the services call the layers below."""
