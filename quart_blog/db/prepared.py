"""The hottest statements, compiled once and run straight on the driver.

Through an ``AsyncSession`` the session lookup and a page of posts cost
900 µs of CPU together on SQLite; the same two statements on the driver cost
240 µs. The difference is SQLAlchemy's per-execution machinery: greenlet
switches, the execution context, cache-key lookups and result objects, none of
which a fixed statement needs more than once. A ``Prepared`` statement keeps the
SQL string, the order of its parameters and its type processors from one
compilation, and turns rows into plain named tuples.

While the request's session has no transaction open, it runs alone: on a pooled
connection checked out for it and given straight back, in autocommit, without the
session's machinery (``Prepared.run_alone``). Once the session has a transaction (a
unit of work, or any ORM statement), it runs on the session's connection, in that
transaction and under its locks:

- on SQLite through the one-hop driver (``connections.AsyncAdapt_onehop_connection``);
- on PostgreSQL through asyncpg's public ``Connection.fetch``, which prepares
  the statement once per connection and then costs one round trip. Outside a
  write unit of work (``write_transaction``) it runs on its own, in autocommit:
  SQLAlchemy's adapter would wrap even a lone SELECT in BEGIN ... ROLLBACK, two
  more round trips, which across a network cost more than the query;
- anywhere else, and on PostgreSQL inside a unit of work, through the session.

A ``Prepared`` write (INSERT/UPDATE/DELETE ... RETURNING) outside a unit of work
is therefore one atomic statement on both databases, the same as ``single_write``
promises.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import asyncpg
import orjson
from sqlalchemy import TypeDecorator, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.sql.dml import ReturningDelete, ReturningInsert, ReturningUpdate
from sqlalchemy.sql.selectable import Select

from quart_blog.db.connections import AsyncAdapt_onehop_connection, give_back, give_back_idle
from quart_blog.db.engine import BEGIN_MODE
from quart_blog.db.session import finish_uncancelled

RowT = TypeVar("RowT", bound=tuple[Any, ...])
Statement = (
    Select[*tuple[Any, ...]]
    | ReturningInsert[*tuple[Any, ...]]
    | ReturningUpdate[*tuple[Any, ...]]
    | ReturningDelete[*tuple[Any, ...]]
)


@dataclass(frozen=True)
class Plan:
    """One statement compiled for one dialect."""

    sql: str
    packed: bool  # the SQL returns every row as one JSON array of arrays (SQLite SELECTs)
    parameter_names: tuple[str, ...]
    fixed_parameters: Mapping[str, Any]  # values the statement itself supplies (LIMIT's OFFSET)
    bind_processors: Mapping[str, Callable[[Any], Any]]
    result_processors: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column index, processor)

    def parameters(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        merged = {**self.fixed_parameters, **values}
        processors = self.bind_processors
        return tuple(
            processors[name](merged[name]) if name in processors else merged[name]
            for name in self.parameter_names
        )

    def convert(self, row: Sequence[Any]) -> Sequence[Any]:
        if not self.result_processors:
            return row
        values = list(row)
        for index, process in self.result_processors:
            if values[index] is not None:
                values[index] = process(values[index])
        return values


class Prepared(Generic[RowT]):
    """A SELECT, or a DML statement with RETURNING, whose rows come back as ``row_type``,
    a named tuple of its columns."""

    def __init__(self, statement: Statement, row_type: type[RowT]) -> None:
        columns = tuple(column.key for column in statement.exported_columns)
        fields = getattr(row_type, "_fields", None)
        if columns != fields:
            raise TypeError(f"{row_type.__name__} fields {fields} != columns {columns}")
        self.statement = statement
        self.row_type = row_type
        self._plans: dict[str, Plan] = {}

    async def all(self, session: AsyncSession, values: Mapping[str, Any]) -> list[RowT]:
        engine = session.bind
        if isinstance(engine, AsyncEngine) and not session.in_transaction():
            return await self.run_alone(session, engine, values)
        return await self.run_in(session, values)

    async def run_alone(
        self, session: AsyncSession, engine: AsyncEngine, values: Mapping[str, Any]
    ) -> list[RowT]:
        """The statement on a pooled connection of its own, given straight back.

        Outside a transaction of the session the statement runs on its own in autocommit
        anyway, so it needs none of the session's machinery: checking a connection out
        through the session (and closing that at teardown) cost about 110 µs of CPU per
        request, two thirds of a whole page of posts (docs/PERFORMANCE.md).
        """
        plan = self.plan(engine.dialect)
        parameters = plan.parameters(values)
        pooled = await engine.raw_connection()
        try:
            adapter, driver = pooled.dbapi_connection, pooled.driver_connection
            if isinstance(adapter, AsyncAdapt_onehop_connection):
                rows = unpack(plan, await fetch_on_sqlite(adapter, plan.sql, parameters))
            elif isinstance(driver, asyncpg.Connection):
                rows = await fetch_on_asyncpg(None, driver, plan.sql, parameters)
            else:
                rows = None
        except BaseException:
            await finish_uncancelled(give_back(pooled))
            raise
        if not give_back_idle(pooled):
            await finish_uncancelled(give_back(pooled))
        if rows is None:  # a driver without a fast path: the session runs it
            return await self.run_in(session, values)
        return self.rows(plan, rows)

    async def run_in(self, session: AsyncSession, values: Mapping[str, Any]) -> list[RowT]:
        """The statement on the session's connection, inside whatever transaction it has."""
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        adapter, driver = raw.dbapi_connection, raw.driver_connection
        plan = self.plan(connection.dialect)
        if isinstance(adapter, AsyncAdapt_onehop_connection):
            rows = unpack(plan, await fetch_on_sqlite(adapter, plan.sql, plan.parameters(values)))
        elif isinstance(driver, asyncpg.Connection) and not in_unit_of_work(connection):
            rows = await fetch_on_asyncpg(connection, driver, plan.sql, plan.parameters(values))
        else:
            result = await connection.execute(self.statement, values)
            return [self.row_type(*row) for row in result.all()]
        return self.rows(plan, rows)

    def rows(self, plan: Plan, rows: Sequence[Sequence[Any]]) -> list[RowT]:
        """The driver's rows as ``row_type``, through the column types' result processors."""
        make: Callable[[Sequence[Any]], RowT] = cast(Any, self.row_type)._make  # NamedTuple's
        return [make(plan.convert(row)) for row in rows]

    async def first(self, session: AsyncSession, values: Mapping[str, Any]) -> RowT | None:
        rows = await self.all(session, values)
        return rows[0] if rows else None

    def plan(self, dialect: Dialect) -> Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            plan = self._plans[dialect.name] = compile_plan(self.statement, dialect)
        return plan


def unpack(plan: Plan, rows: Sequence[Sequence[Any]]) -> Sequence[Sequence[Any]]:
    """The rows of a SQLite statement, unpacked from its one JSON row when ``plan`` packed them."""
    if plan.packed:
        unpacked: Sequence[Sequence[Any]] = orjson.loads(rows[0][0])
        return unpacked
    return rows


def in_unit_of_work(connection: AsyncConnection) -> bool:
    """Whether ``write_transaction`` opened this connection's transaction (it sets BEGIN_MODE)."""
    sync_connection = connection.sync_connection
    return sync_connection is not None and BEGIN_MODE in sync_connection.get_execution_options()


async def fetch_on_sqlite(
    adapter: AsyncAdapt_onehop_connection, sql: str, parameters: Sequence[Any]
) -> list[Any]:
    """One statement on the one-hop SQLite driver, its errors raised as ``sqlalchemy.exc`` types."""
    try:
        return await adapter.fetch(sql, parameters)
    except sqlite3.IntegrityError as error:
        raise IntegrityError(sql, parameters, error) from error
    except sqlite3.OperationalError as error:
        raise OperationalError(sql, parameters, error) from error
    except sqlite3.Error as error:
        raise DBAPIError(sql, parameters, error) from error


async def fetch_on_asyncpg(
    connection: AsyncConnection | None,
    driver: asyncpg.Connection,
    sql: str,
    parameters: Sequence[Any],
) -> list[asyncpg.Record]:
    """One statement on asyncpg, its errors raised as the ``sqlalchemy.exc`` types callers catch.

    A connection asyncpg has lost is invalidated (``connection``: the session's), so the
    pool opens a new one instead of handing the dead one to the next request; one checked
    out on its own is dropped at its next checkout (``engine.refuse_lost_connection``).
    """
    try:
        records: list[asyncpg.Record] = await driver.fetch(sql, *parameters)
        return records
    except asyncpg.IntegrityConstraintViolationError as error:
        raise IntegrityError(sql, parameters, error) from error
    except asyncpg.PostgresError as error:
        raise DBAPIError(sql, parameters, error) from error
    except (asyncpg.InterfaceError, OSError) as error:
        if connection is not None and driver.is_closed():
            await connection.invalidate(error)
        raise OperationalError(sql, parameters, error) from error


def compile_plan(statement: Statement, dialect: Dialect) -> Plan:
    """Compile once: SQL, positional parameter order and the type processors.

    The processors are the ones SQLAlchemy itself would apply, asked for through the
    public ``TypeEngine.dialect_impl(...).bind_processor/result_processor``.
    """
    packed = dialect.name == "sqlite" and isinstance(statement, Select) and json_exact(statement)
    runs = pack_rows(statement) if packed and isinstance(statement, Select) else statement
    compiled = runs.compile(dialect=dialect)
    names = tuple(compiled.positiontup or ())
    fixed = {
        name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
    }
    bind_processors = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            bind_processors[name] = process
    result_processors = []
    for index, column in enumerate(statement.exported_columns):
        process = column.type.dialect_impl(dialect).result_processor(dialect, None)
        if process is not None:
            result_processors.append((index, process))
    return Plan(
        sql=compiled.string,
        packed=packed,
        parameter_names=names,
        fixed_parameters=fixed,
        bind_processors=bind_processors,
        result_processors=tuple(result_processors),
    )


# Column types whose SQLite values survive a trip through JSON unchanged (REAL would not:
# SQLite writes 15 significant digits; BLOBs are refused).
JSON_EXACT_TYPES = (int, str, bool, datetime)


def json_exact(statement: Select[*tuple[Any, ...]]) -> bool:
    """Whether every selected column is of a type ``JSON_EXACT_TYPES`` holds."""
    for column in statement.selected_columns:
        stored = column.type
        if isinstance(stored, TypeDecorator):  # UTCDateTime: what SQLite holds is its impl's
            stored = stored.impl_instance
        try:
            python_type = stored.python_type
        except NotImplementedError:
            return False
        if not issubclass(python_type, JSON_EXACT_TYPES):
            return False
    return True


def pack_rows(statement: Select[*tuple[Any, ...]]) -> Select[tuple[str]]:
    """The same rows, in the same order, as ONE row holding a JSON array of arrays.

    sqlite3 releases the GIL around every ``sqlite3_step``, so a page of 20 posts made
    its worker thread win the GIL back from the busy event loop 20 times, each a wait
    and a pair of context switches: under load that cost more than the query. One row
    is one step. SQLite feeds the aggregate in the order the subquery produces its rows
    (the subquery's LIMIT keeps it from being flattened), which
    ``tests/test_prepared.py`` checks on every page it compares.
    """
    rows = statement.subquery("page")
    return select(func.json_group_array(func.json_array(*rows.c)))  # no rows: "[]"
