"""The catalog: bulk introspection through the drivers, a cache in querydeck's database,
refresh (on demand and in the background) with diffs, search and table detail."""
