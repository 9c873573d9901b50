"""querydeck's benchmarks: each figure is printed next to a reference measured in the same run."""
