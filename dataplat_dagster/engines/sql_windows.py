"""Window-local SQL run once over a range of windows, with the window as a column.

A partitioned table's SQL body means "this query, for each window, over that window's
rows". For a year of daily windows that is 365 DuckDB queries. When the query is
window-local (each output row depends on one window's rows only), the same rows come from
one query over the whole range in which the window is a column carried everywhere:

- each windowed input keeps its `_partition` column; joins between windowed inputs also
  match on it; every SELECT over a windowed input outputs it (stars exclude the inputs'
  copies, the window is appended last, as the per-window loop appends it);
- GROUP BY (ALL or a list), DISTINCT ON and window functions' PARTITION BY get the window;
- a top-level aggregate without GROUP BY is grouped by the window, and windows without
  rows get the row the query returns over no rows (per window it returns one row);
- ORDER BY is kept; rows are then ordered by window, stably (`sql_range.ordered_by_window`).

Anything this module cannot prove window-local keeps the per-window loop, with a reason
(`RangeSQL.reason`): LIMIT/OFFSET/SAMPLE anywhere, set operations or expression subqueries over a
windowed input, LATERAL/NATURAL/POSITIONAL joins with one, outer joins preserving rows of
only non-windowed inputs, ROLLUP/CUBE/GROUPING SETS, named windows, PIVOT, recursive CTEs,
functions not stable within a window's query (random, now...), a column named
`_partition`, or SQL sqlglot cannot parse. The SQL is DuckDB's; sqlglot parses it and
writes it back in the same dialect. `sql_range` runs the rewritten query; should DuckDB
refuse it, the body goes back to the per-window loop as well.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache

import duckdb
import sqlglot
from sqlglot import exp

from dataplat_dagster.engines.base import PARTITION
from dataplat_dagster.engines.sql import render_sql, view_name

DIALECT = "duckdb"
_UNSUPPORTED: tuple[tuple[type[exp.Expr], str], ...] = (
    (exp.Limit, "LIMIT"),
    (exp.Offset, "OFFSET"),
    (exp.Fetch, "FETCH"),
    (exp.TableSample, "SAMPLE"),
    (exp.Pivot, "PIVOT/UNPIVOT"),
    (exp.Lateral, "LATERAL"),
    (exp.Columns, "COLUMNS(...)"),
    (exp.Rollup, "ROLLUP"),
    (exp.Cube, "CUBE"),
    (exp.GroupingSets, "GROUPING SETS"),
)
# sqlglot's classes for DuckDB functions not stable within a query; the catalog tells the rest
_VOLATILE_CLASSES = (
    exp.Rand,
    exp.Randn,
    exp.Uuid,
    exp.CurrentTimestamp,
    exp.CurrentDate,
    exp.CurrentTime,
    exp.CurrentDatetime,
)


@dataclass(frozen=True)
class RangeSQL:
    """How a partitioned table's SQL body runs over a range: once (`sql`) or per window."""

    sql: str | None  # rendered, window as a column; None: run window by window
    reason: str = ""  # why it runs window by window
    fill_empty: bool = False  # one row per window even without rows (aggregate, no GROUP BY)

    @property
    def once(self) -> bool:
        return self.sql is not None


class _Fallback(Exception):
    """The query is not provably window-local; the message says why."""


def plan_range_sql(sql: str, windowed_refs: Iterable[str]) -> RangeSQL:
    """Decide (once, at definitions load) whether `sql` can run once over a range.

    `windowed_refs` are the refs (`layer.table`) of the inputs read window by window.
    """
    return _plan(sql, frozenset(windowed_refs))


@lru_cache(maxsize=1024)  # dataflows made from one template share their SQL: parsed once
def _plan(sql: str, windowed_refs: frozenset[str]) -> RangeSQL:
    views = {view_name(ref).lower() for ref in windowed_refs}
    if not views:
        return RangeSQL(None, "it reads no windowed input")
    try:
        statements = sqlglot.parse(render_sql(sql), read=DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        return RangeSQL(None, f"sqlglot could not parse it ({str(exc).splitlines()[0]})")
    statements = [s for s in statements if s is not None]
    if len(statements) != 1 or not isinstance(statements[0], exp.Select):
        kind = statements[0].key.upper() if len(statements) == 1 else "several statements"
        return RangeSQL(None, f"it is {kind}, not a single SELECT")
    tree = statements[0]
    try:
        _check_whole(tree)
        rewriter = _Rewriter(views)
        if not rewriter.select(tree, top=True):
            raise _Fallback("its rows do not depend on a windowed input")
    except _Fallback as exc:
        return RangeSQL(None, str(exc))
    return RangeSQL(tree.sql(dialect=DIALECT), fill_empty=rewriter.fill_empty)


def _check_whole(tree: exp.Expr) -> None:
    for node in tree.walk():
        for kind, name in _UNSUPPORTED:
            if isinstance(node, kind):
                raise _Fallback(f"it uses {name}")
        if isinstance(node, exp.Identifier) and node.name.lower() == PARTITION:
            raise _Fallback(f"it names a column {PARTITION}, the window column of a range run")
        if isinstance(node, exp.With) and node.args.get("recursive"):
            raise _Fallback("it uses WITH RECURSIVE")
        if isinstance(node, exp.Select) and node.args.get("windows"):
            raise _Fallback("it uses a named WINDOW")
        if isinstance(node, exp.Func) and _volatile(node):
            raise _Fallback(f"it calls {_function_name(node)}, which differs from query to query")


class _Rewriter:
    """Rewrites SELECTs in place; remembers which CTEs read windowed inputs."""

    def __init__(self, views: set[str]) -> None:
        self.views = views
        self.ctes: dict[str, bool] = {}
        self.fill_empty = False
        self.aliases = 0

    def query(self, node: exp.Expr) -> bool:
        """Rewrite a query (a SELECT, a set operation, a parenthesised query); windowed?"""
        if isinstance(node, exp.Subquery):
            return self.query(node.this)
        if isinstance(node, exp.Select):
            return self.select(node, top=False)
        if isinstance(node, exp.SetOperation):
            if self.reads_windowed(node):
                raise _Fallback(f"it applies {node.key.upper()} to a windowed input")
            return False
        if self.reads_windowed(node):
            raise _Fallback(f"it reads a windowed input through {node.key.upper()}")
        return False

    def reads_windowed(self, node: exp.Expr) -> bool:
        return any(self.table_windowed(table) for table in node.find_all(exp.Table))

    def table_windowed(self, table: exp.Table) -> bool:
        name = table.name.lower()
        if not table.args.get("db") and name in self.ctes:
            return self.ctes[name]
        return name in self.views

    def select(self, select: exp.Select, *, top: bool) -> bool:
        saved = dict(self.ctes)  # a CTE is visible in its own query only
        try:
            with_ = select.args.get("with_")
            for cte in with_.expressions if with_ is not None else []:
                self.ctes[cte.alias_or_name.lower()] = self.query(cte.this)
            return self._select_body(select, top=top)
        finally:
            self.ctes = saved

    def _select_body(self, select: exp.Select, *, top: bool) -> bool:
        sources = self._sources(select)
        for node in _scope(select):
            if node is not select and isinstance(node, exp.Query) and self.reads_windowed(node):
                raise _Fallback("a subquery in an expression reads a windowed input")
        windowed = [alias for alias, is_windowed, _ in sources if is_windowed]
        if not windowed:
            return False
        columns = self._join_on_window(select, sources)
        window = columns[0] if len(columns) == 1 else exp.func("coalesce", *columns)
        self._project(select, window.copy(), windowed)
        self._group(select, window, top=top)
        for node in _scope(select):
            if isinstance(node, exp.Window):
                node.set("partition_by", [*(node.args.get("partition_by") or []), window.copy()])
        return True

    def _sources(self, select: exp.Select) -> list[tuple[str, bool, exp.Join | None]]:
        """Each FROM/JOIN source: (its name in the query, windowed?, its join)."""
        from_ = select.args.get("from_")
        if from_ is None:
            return []
        found = []
        for source, join in [
            (from_.this, None),
            *((j.this, j) for j in select.args.get("joins") or []),
        ]:
            if isinstance(source, exp.Table):
                windowed = self.table_windowed(source)
            elif isinstance(source, exp.Subquery):
                windowed = self.query(source.this)
            elif self.reads_windowed(source):
                raise _Fallback(f"it reads a windowed input through {source.key.upper()}")
            else:
                windowed = False
            alias = source.args.get("alias")
            if windowed and alias is not None and alias.columns:
                raise _Fallback("it renames the columns of a windowed input")
            if windowed and not source.alias_or_name:
                self.aliases += 1
                source.set("alias", exp.TableAlias(this=exp.to_identifier(f"_w{self.aliases}")))
            found.append((source.alias_or_name, windowed, join))
        return found

    def _join_on_window(
        self, select: exp.Select, sources: list[tuple[str, bool, exp.Join | None]]
    ) -> list[exp.Expr]:
        """Match windowed sources on the window; return the columns that carry it."""
        carried: list[exp.Expr] = []  # window columns of the sources joined so far
        for alias, windowed, join in sources:
            args = join.args if join is not None else {}
            side, kind, method = ((args.get(k) or "").upper() for k in ("side", "kind", "method"))
            # an outer join keeping rows of non-windowed inputs only would keep them once,
            # where each window keeps them; a positional join pairs rows across windows
            keeps_plain = {
                "LEFT": not carried,
                "RIGHT": not windowed,
                "FULL": not (windowed and carried),
            }.get(side, False)
            if keeps_plain and (windowed or carried):
                raise _Fallback(f"a {side} JOIN keeps rows of a non-windowed input")
            if method == "POSITIONAL" and (windowed or carried):
                raise _Fallback("it joins a windowed input with a POSITIONAL JOIN")
            if not windowed:
                continue
            if method == "NATURAL":
                raise _Fallback("it joins a windowed input with a NATURAL JOIN")
            column = exp.column(PARTITION, table=exp.to_identifier(alias, quoted=True))
            if join is not None and carried:
                self._match(join, column, carried)
            elif kind in ("SEMI", "ANTI"):
                raise _Fallback(f"a windowed input is {kind} joined to non-windowed ones")
            if kind not in ("SEMI", "ANTI"):  # their columns are not in the result
                carried.append(column)
        return carried

    @staticmethod
    def _match(join: exp.Join, column: exp.Expr, carried: list[exp.Expr]) -> None:
        """Join on the window too: the source's `_partition` equals the rows' so far."""
        if join.args.get("using"):
            if len(carried) > 1:  # `_partition` on the left would be ambiguous
                raise _Fallback("it joins a third windowed input with USING")
            join.set("using", [*join.args["using"], exp.to_identifier(PARTITION)])
        else:
            previous = carried[0] if len(carried) == 1 else exp.func("coalesce", *carried)
            match = exp.EQ(this=column.copy(), expression=previous.copy())
            on = join.args.get("on")
            join.set("on", exp.and_(on, match) if on is not None else match)
        if (join.args.get("kind") or "").upper() == "CROSS":
            join.set("kind", None)

    def _project(self, select: exp.Select, window: exp.Expr, windowed: list[str]) -> None:
        names = {name.lower() for name in windowed}
        for item in select.expressions:
            star = None
            if isinstance(item, exp.Star):
                star = item
            elif isinstance(item, exp.Column) and isinstance(item.this, exp.Star):
                if item.table.lower() in names:
                    star = item.this
            if star is not None:
                excluded = star.args.get("except_") or []
                star.set("except_", [*excluded, exp.column(PARTITION)])
        select.append("expressions", exp.alias_(window, PARTITION))
        distinct = select.args.get("distinct")
        if distinct is not None and distinct.args.get("on") is not None:
            on = distinct.args["on"]
            on.set("expressions", [*on.expressions, window.copy()])

    def _group(self, select: exp.Select, window: exp.Expr, *, top: bool) -> None:
        group = select.args.get("group")
        if group is not None:
            if not group.args.get("all"):
                group.set("expressions", [*group.expressions, window.copy()])
            return
        if not any(_is_aggregate(node) for node in _scope(select)):
            return
        if not top:
            raise _Fallback("a subquery aggregates without GROUP BY (one row per window)")
        if select.args.get("having") is not None:
            raise _Fallback("it aggregates without GROUP BY and has HAVING")
        select.set("group", exp.Group(expressions=[window.copy()]))
        self.fill_empty = True


def _scope(select: exp.Select) -> Iterator[exp.Expr]:
    """The SELECT's own expressions: not inside its sources, CTEs or nested queries."""
    for key, value in select.args.items():
        if key in ("from_", "with_"):
            continue
        values = value if isinstance(value, list) else [value]
        for child in values:
            node = child.args.get("on") if isinstance(child, exp.Join) else child
            if isinstance(node, exp.Expr):
                yield from node.walk(prune=lambda n: isinstance(n, exp.Query))


def _is_aggregate(node: exp.Expr) -> bool:
    if not isinstance(node, exp.Func):
        return False
    parent = node.parent
    while isinstance(parent, exp.Filter | exp.IgnoreNulls | exp.RespectNulls):
        parent = parent.parent
    if isinstance(parent, exp.Window):  # an aggregate over a window, not a GROUP BY
        return False
    if isinstance(node, exp.AggFunc):
        return True
    # a function sqlglot does not know: ask DuckDB (a user-defined macro is not an aggregate)
    return isinstance(node, exp.Anonymous) and node.name.lower() in _duckdb_functions()[0]


def _volatile(node: exp.Func) -> bool:
    if isinstance(node, _VOLATILE_CLASSES):
        return True
    return isinstance(node, exp.Anonymous) and node.name.lower() in _duckdb_functions()[1]


def _function_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    return node.sql(dialect=DIALECT).split("(", 1)[0].strip().lower()


@cache
def _duckdb_functions() -> tuple[frozenset[str], frozenset[str]]:
    """DuckDB's aggregate functions and its functions not stable within a query (90 ms)."""
    with duckdb.connect() as connection:
        rows = connection.sql(
            "select function_name, function_type, stability from duckdb_functions()"
        ).fetchall()
    aggregates = frozenset(name.lower() for name, kind, _ in rows if kind == "aggregate")
    volatile = frozenset(
        name.lower() for name, _, stability in rows if stability not in (None, "CONSISTENT")
    )
    return aggregates, volatile
