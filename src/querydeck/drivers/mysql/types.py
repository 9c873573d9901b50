"""MySQL/MariaDB result column metadata → Arrow fields.

PyMySQL's field descriptors carry the protocol type code, the flags (``UNSIGNED``...), the
character set (63 means binary) and the length and scale, which is all the mapping needs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa
from pymysql.constants import FIELD_TYPE, FLAG

from querydeck.drivers import arrow_rows

BINARY_CHARSET = 63

_INTEGERS: dict[int, tuple[str, pa.DataType, pa.DataType]] = {
    FIELD_TYPE.TINY: ("tinyint", pa.int8(), pa.uint8()),
    FIELD_TYPE.SHORT: ("smallint", pa.int16(), pa.uint16()),
    FIELD_TYPE.INT24: ("mediumint", pa.int32(), pa.uint32()),
    FIELD_TYPE.LONG: ("int", pa.int32(), pa.uint32()),
    FIELD_TYPE.LONGLONG: ("bigint", pa.int64(), pa.uint64()),
}

_SIMPLE: dict[int, tuple[str, pa.DataType]] = {
    FIELD_TYPE.FLOAT: ("float", pa.float32()),
    FIELD_TYPE.DOUBLE: ("double", pa.float64()),
    FIELD_TYPE.DATE: ("date", pa.date32()),
    FIELD_TYPE.NEWDATE: ("date", pa.date32()),
    FIELD_TYPE.DATETIME: ("datetime", pa.timestamp("us")),
    FIELD_TYPE.TIMESTAMP: ("timestamp", pa.timestamp("us", tz="UTC")),
    FIELD_TYPE.TIME: ("time", pa.duration("us")),
    FIELD_TYPE.YEAR: ("year", pa.int16()),
    FIELD_TYPE.JSON: ("json", pa.string()),
    FIELD_TYPE.GEOMETRY: ("geometry", pa.binary()),
    FIELD_TYPE.NULL: ("null", pa.string()),
}

_TEXTS: dict[int, tuple[str, str]] = {
    FIELD_TYPE.VARCHAR: ("varchar", "varbinary"),
    FIELD_TYPE.VAR_STRING: ("varchar", "varbinary"),
    FIELD_TYPE.STRING: ("char", "binary"),
    FIELD_TYPE.TINY_BLOB: ("tinytext", "tinyblob"),
    FIELD_TYPE.MEDIUM_BLOB: ("mediumtext", "mediumblob"),
    FIELD_TYPE.LONG_BLOB: ("longtext", "longblob"),
    FIELD_TYPE.BLOB: ("text", "blob"),
    FIELD_TYPE.ENUM: ("enum", "enum"),
    FIELD_TYPE.SET: ("set", "set"),
}


def _bits(value: bytes) -> int:
    return int.from_bytes(value, "big")


def column(descriptor: Any) -> tuple[pa.Field, Callable[[Any], Any] | None]:
    """The Arrow field of one PyMySQL field descriptor and, when PyMySQL's value needs it,
    a converter for its non-null values."""
    code: int = descriptor.type_code
    flags: int = descriptor.flags
    unsigned = bool(flags & FLAG.UNSIGNED)
    name: str = descriptor.name
    if code in _INTEGERS:
        native, signed_type, unsigned_type = _INTEGERS[code]
        if unsigned:
            return arrow_rows.field(name, unsigned_type, native + " unsigned"), None
        return arrow_rows.field(name, signed_type, native), None
    if code in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL):
        scale: int = descriptor.scale
        precision = descriptor.length - (1 if scale else 0) - (0 if unsigned else 1)
        native = f"decimal({precision},{scale})" + (" unsigned" if unsigned else "")
        return arrow_rows.field(name, arrow_rows.decimal_type(precision, scale), native), None
    if code == FIELD_TYPE.BIT:
        if descriptor.length == 1:
            return arrow_rows.field(name, pa.bool_(), "bit(1)"), lambda v: bool(_bits(v))
        return arrow_rows.field(name, pa.uint64(), f"bit({descriptor.length})"), _bits
    if code in _SIMPLE:
        native, arrow_type = _SIMPLE[code]
        return arrow_rows.field(name, arrow_type, native), None
    if code in _TEXTS:
        text_name, binary_name = _TEXTS[code]
        if flags & FLAG.ENUM:
            text_name = "enum"
        elif flags & FLAG.SET:
            text_name = "set"
        if descriptor.charsetnr == BINARY_CHARSET and text_name not in ("enum", "set"):
            return arrow_rows.field(name, pa.binary(), binary_name), None
        return arrow_rows.field(name, pa.string(), text_name), None
    return arrow_rows.field(name, pa.string(), f"type {code}"), None


def schema_of(descriptors: Sequence[Any]) -> tuple[pa.Schema, list[Callable[[Any], Any] | None]]:
    """The Arrow schema of a result and one optional value converter per column."""
    pairs = [column(d) for d in descriptors]
    return pa.schema([field for field, _ in pairs]), [convert for _, convert in pairs]
