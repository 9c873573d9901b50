"""Where drivers may go: the outbound-address policy (:mod:`.addresses`: resolve once,
check, pin) and the file roots of file-based engines (:mod:`.fileroots`)."""
