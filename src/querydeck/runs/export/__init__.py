"""Exports of a stored result: the formats and their media types (:mod:`.formats`, without
Arrow, for the CLI's command tree), the streaming writers (:mod:`.writers`) and the
excel flavour of CSV's neutralising of formulas (:mod:`.excel`)."""
