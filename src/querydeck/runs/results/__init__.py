"""The result store: each run's rows as an Arrow IPC stream file with a batch index
(:mod:`.store`, its batches written behind the stream by :mod:`.writebehind`), its retention
by age, size, count and free disk (:mod:`.retention`), the JSON value rules of pages
(:mod:`.jsonrows`) and Arrow's memory pool (:mod:`.arrowpool`)."""
