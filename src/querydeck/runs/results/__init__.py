"""The result store: each run's rows as an Arrow IPC stream file with a batch index
(:mod:`.store`), its retention by age and size (:mod:`.retention`), the JSON value rules of
pages (:mod:`.jsonrows`) and Arrow's memory pool (:mod:`.arrowpool`)."""
