"""Functions a read-only statement may not call on Spark: ``fnmatch`` patterns on the
normalised function name (see :mod:`querydeck.sql.policy`), each with the reason shown to
the user. The driver declares this table; the guard applies it, with the entries common to
every engine and an administrator's additions.

Spark Connect has no read-only mode and no setting that disables these: ``reflect`` and
``java_method`` call any static Java method on the server (``System.exit``,
``Runtime.exec``…), ``read_files`` reads any path the server can. The driver also asks
Spark's analyzer about each statement before running it (see
:mod:`querydeck.drivers.spark.session`), so a statement that slipped past this table is
still refused.
"""

from __future__ import annotations

from querydeck.sql.policy import FILE_ACCESS, SIDE_EFFECT

FORBIDDEN_FUNCTIONS: dict[str, str] = {
    "reflect": SIDE_EFFECT,
    "try_reflect": SIDE_EFFECT,
    "java_method": SIDE_EFFECT,
    "read_files": FILE_ACCESS,
    "input_file_name": FILE_ACCESS,
    "input_file_block_*": FILE_ACCESS,
}
