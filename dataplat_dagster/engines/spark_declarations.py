"""Load-time checks of the SQL a table runs on Spark: what sqlglot cannot translate fails here.

A table's SQL body, its `filter`/`derive` step expressions and its `expression` rules are
DuckDB-style SQL. On the Spark engine each is translated by sqlglot; a construct without a
Spark translation fails when the declarations load, naming the table, the line and the
reason, instead of failing a run hours later.
"""

from typing import Any

from dataplat_dagster.config.errors import DeclarationError
from dataplat_dagster.engines.spark_sql import translate_expression, untranslatable


def runs_on_spark(plan: Any) -> bool:
    """The table's engine is Spark (the table's own choice, else its dataflow's)."""
    for owner in (plan, plan.spec, getattr(plan.dataflow, "spec", None)):
        engine = getattr(owner, "engine", None)
        if engine is not None:
            return getattr(engine, "name", engine) == "spark"
    return False


def check_spark_sql(plan: Any) -> None:
    """Raise DeclarationError for the first piece of the table's SQL Spark cannot run."""
    base = (plan.layer, plan.id.name)
    spec = plan.spec
    if plan.sql is not None:
        found = untranslatable(plan.sql)
        if found is not None:
            line, reason = found
            field = "sql" if getattr(spec, "sql", None) else "sql_file"
            where = f"SQL line {line}" if line else "the SQL"
            if field == "sql_file":
                where = f"{spec.sql_file}" + (f", line {line}" if line else "")
            raise _problem(plan, (*base, field), f"{where} cannot run on Spark: {reason}")
    for index, step in enumerate(getattr(spec, "steps", [])):
        texts = {"filter": [step.params]} if step.kind == "filter" else {}
        if step.kind == "derive":
            texts = {f"derive.{name}": [text] for name, text in step.params.items()}
        for label, (text,) in texts.items():
            _check_expression(plan, (*base, "steps", index, step.kind), label, text)
    for index, rule in enumerate(getattr(spec, "rules", [])):
        if rule.kind == "expression":
            path = (*base, "rules", index, "expression", "sql")
            _check_expression(plan, path, "expression rule", rule.expression.sql)


def _check_expression(plan: Any, path: tuple[str | int, ...], label: str, text: str) -> None:
    try:
        translate_expression(text)
    except Exception as exc:  # sqlglot's ParseError, UnsupportedError, Untranslatable
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise _problem(plan, path, f"{label} {text!r} cannot run on Spark: {reason}") from None


def _problem(plan: Any, path: tuple[str | int, ...], reason: str) -> DeclarationError:
    return plan.dataflow.fail(path, f"table {plan.layer}.{plan.id.name}: {reason}")
