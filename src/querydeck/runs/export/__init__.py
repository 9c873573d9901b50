"""Exports of a stored result: the formats and their media types (:mod:`.formats`, without
Arrow, for the CLI's command tree) and the streaming writers (:mod:`.writers`)."""
