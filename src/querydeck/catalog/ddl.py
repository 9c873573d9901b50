"""DDL generated from a cached table description, in the engine's dialect (identifiers
quoted by sqlglot for that dialect) and the DDL style its driver declares."""

from __future__ import annotations

from sqlglot import exp

from querydeck.drivers.catalog_model import DdlStyle, TableMeta


def ident(name: str, dialect: str) -> str:
    return str(exp.to_identifier(name, quoted=True).sql(dialect=dialect))


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def generate(table: TableMeta, dialect: str, style: DdlStyle) -> str:
    """``CREATE TABLE``/``CREATE VIEW`` plus indexes and comments for ``table``."""
    qualified = ident(table.name, dialect)
    if style.schema_qualified:
        qualified = f"{ident(table.schema, dialect)}.{qualified}"
    if table.kind in ("view", "materialized_view"):
        return _view(table, qualified, dialect)
    cols = ", ".join
    lines = []
    for column in table.columns:
        line = f"  {ident(column.name, dialect)} {column.native_type or ''}".rstrip()
        if not column.nullable:
            line += " NOT NULL"
        if column.default is not None:
            line += f" DEFAULT {column.default}"
        if column.comment and style.comments == "inline":
            line += f" COMMENT {_literal(column.comment)}"
        lines.append(line)
    if table.primary_key:
        lines.append(f"  PRIMARY KEY ({cols(ident(c, dialect) for c in table.primary_key)})")
    for unique in table.unique:
        lines.append(f"  UNIQUE ({cols(ident(c, dialect) for c in unique)})")
    for fk in table.foreign_keys:
        target = ident(fk.ref_table, dialect)
        if style.schema_qualified:
            target = f"{ident(fk.ref_schema, dialect)}.{target}"
        named = (
            f"CONSTRAINT {ident(fk.name, dialect)} " if fk.name and style.named_constraints else ""
        )
        lines.append(
            f"  {named}FOREIGN KEY ({cols(ident(c, dialect) for c in fk.columns)}) "
            f"REFERENCES {target} ({cols(ident(c, dialect) for c in fk.ref_columns)})"
        )
    kind = "FOREIGN TABLE" if table.kind == "foreign_table" else "TABLE"
    head = f"CREATE {kind} {qualified} (\n" + ",\n".join(lines) + "\n)"
    if table.comment and style.comments == "inline":
        head += f" COMMENT = {_literal(table.comment)}"
    out = [head + ";"]
    for index in table.indexes:
        if index.primary or (index.unique and index.columns in table.unique):
            continue
        if index.definition:
            out.append(index.definition.rstrip(";") + ";")
        else:
            marker = "UNIQUE " if index.unique else ""
            out.append(
                f"CREATE {marker}INDEX {ident(index.name, dialect)} ON {qualified} "
                f"({cols(ident(c, dialect) for c in index.columns)});"
            )
    if style.comments == "statements":
        if table.comment:
            out.append(f"COMMENT ON TABLE {qualified} IS {_literal(table.comment)};")
        for column in table.columns:
            if column.comment:
                out.append(
                    f"COMMENT ON COLUMN {qualified}.{ident(column.name, dialect)} "
                    f"IS {_literal(column.comment)};"
                )
    return "\n".join(out)


def _view(table: TableMeta, qualified: str, dialect: str) -> str:
    definition = (table.definition or "").strip().rstrip(";")
    if definition.upper().startswith("CREATE"):
        return definition + ";"
    kind = "MATERIALIZED VIEW" if table.kind == "materialized_view" else "VIEW"
    return f"CREATE {kind} {qualified} AS\n{definition};"
