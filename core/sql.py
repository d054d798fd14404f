"""SQL the ORM writes badly for our hot paths (PostgreSQL only; callers keep an ORM path for
the embedded SQLite)."""

from django.core.exceptions import EmptyResultSet
from django.db import connection, models


def update_from_values(model, *, alias: str, columns: list[tuple[str, str]], rows: list[tuple],
                       set_sql: str, where: str = "") -> None:
    """Update many rows of `model`, each with its own values, in one statement:
    `UPDATE <table> AS <alias> SET <set_sql> FROM (VALUES <rows>) AS v(<columns>)
    WHERE <alias>.id = v.id [AND <where>]`. `columns` are (name, SQL type to cast the
    parameter to, or ""), the first being the row's id. The ORM's way, a CASE per column with a
    WHEN per row, cost more to build than the rest of a batch of inbound messages."""
    row = "(" + ", ".join(f"%s::{cast}" if cast else "%s" for _name, cast in columns) + ")"
    names = ", ".join(name for name, _cast in columns)
    table = connection.ops.quote_name(model._meta.db_table)
    condition = f"{alias}.id = v.{columns[0][0]}" + (f" AND {where}" if where else "")
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} AS {alias} SET {set_sql}"
            f" FROM (VALUES {', '.join([row] * len(rows))}) AS v({names}) WHERE {condition}",
            [value for values in rows for value in values],
        )


def table_rows(model) -> int:
    """About how many rows `model`'s table holds (PostgreSQL's count as of its last ANALYZE;
    0 when unknown, and on the embedded SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass",
                       [model._meta.db_table])
        row = cursor.fetchone()
    return max(int(row[0]), 0) if row else 0


class Among(models.Lookup):
    """`field__among=frozenset(ids)`: `field = ANY(%s)` with the ids as one array on
    PostgreSQL. Thousands of ids through `__in` cost Django milliseconds a query to build (a
    parameter each) and PostgreSQL to parse; the embedded SQLite gets the plain IN. Give a
    frozenset: Django resolves a list or a tuple element by element before any lookup."""

    lookup_name = "among"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        ids = [int(value) for value in self.rhs]
        if not ids:
            raise EmptyResultSet
        if connection.vendor == "postgresql":
            return f"{lhs} = ANY(%s::bigint[])", [*params, ids]
        return f"{lhs} IN ({', '.join(['%s'] * len(ids))})", [*params, *ids]


models.ForeignKey.register_lookup(Among)
models.IntegerField.register_lookup(Among)
