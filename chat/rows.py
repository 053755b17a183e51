"""Model instances read with hand-written SQL, for the few queries every opening socket runs.

Building a query through the ORM cost more than running it: in a reconnect storm, 0.4-0.6 ms of CPU for each
of the session, user, profile and room reads against 0.04-0.1 ms for the same rows through a cursor
(bench/README.md, "Issue 17"). `Columns` selects a model's columns and turns a row back into an instance
as the ORM does: the database's and the fields' converters applied (SQLite's dates, booleans), the
columns left out deferred (read on first access, as with `.only()`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from django.db import connections
from django.db.models import Model

M = TypeVar("M", bound=Model)


class Columns(Generic[M]):
    """A model's concrete columns under a table alias, and rows of them made into instances."""

    def __init__(self, model: type[M], alias: str, leave_out: Sequence[str] = ()) -> None:
        self.model, self.alias = model, alias
        self.fields = [field for field in model._meta.concrete_fields if field.name not in leave_out]
        self.attnames = [field.attname for field in self.fields]
        self._converters: dict[str, list[tuple[int, list[Any], Any]]] = {}  # per database alias
        self._sql: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def sql(self, using: str = "default") -> str:
        """`alias."column", ...` for a SELECT."""
        sql = self._sql.get(using)
        if sql is None:
            quote = connections[using].ops.quote_name
            sql = self._sql[using] = ", ".join(f"{self.alias}.{quote(field.column)}" for field in self.fields)
        return sql

    def instance(self, values: Sequence[Any], using: str = "default") -> M:
        """The instance these column values (in `sql`'s order) make, as the ORM would have built it."""
        connection = connections[using]
        converters = self._converters.get(using)
        if converters is None:
            converters = self._converters[using] = []
            for position, field in enumerate(self.fields):
                column = field.get_col(self.alias)
                found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
                if found:
                    converters.append((position, found, column))
        row = list(values)
        for position, found, column in converters:
            for convert in found:
                row[position] = convert(row[position], column, connection)
        return self.model.from_db(using, self.attnames, row)
