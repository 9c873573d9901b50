"""querydeck."""
