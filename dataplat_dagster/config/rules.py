"""Quality rules declared per table; each becomes an asset check named `<rule>_<column>`.

A rule is a one-key mapping `{<kind>: <parameters>, severity: warn|error, on_fail: ...}`.
Row rules find failing rows and may act on them (`on_fail`: warn, drop, quarantine, fail);
table rules judge the table as a whole (`on_fail`: warn or fail).
"""

import functools
import re
from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from dataplat_dagster.config.base import Duration, StrictModel, as_list
from dataplat_dagster.config.schema import ColumnType

Severity = Literal["warn", "error"]
Action = Literal["warn", "drop", "quarantine", "fail"]
ROW_KINDS = (
    "not_null",
    "unique",
    "accepted_values",
    "range",
    "regex",
    "referential",
    "expression",
    "custom",
)
_CHECK_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class BaseRule(StrictModel):
    severity: Severity | None = Field(
        None, description="default: warn when rows are dropped or quarantined, else error"
    )
    on_fail: Action = Field(
        "warn", description="what happens to failing rows (row rules) or the step"
    )
    name: str | None = Field(None, description="check name; default <rule>_<column>")
    description: str | None = None

    @property
    def kind(self) -> str:
        return _kind_of(type(self))

    @property
    def params(self) -> Any:
        return getattr(self, self.kind)

    @property
    def is_row_rule(self) -> bool:
        return self.kind in ROW_KINDS

    @property
    def effective_severity(self) -> Severity:
        if self.severity:
            return self.severity
        return "warn" if self.on_fail in ("drop", "quarantine") else "error"

    @property
    def check_name(self) -> str:
        return self.name or self._default_name()

    def _default_name(self) -> str:
        return self.kind

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        if value is not None and not _CHECK_NAME.match(value):
            raise ValueError("a check name is lower_snake_case")
        return value

    @model_validator(mode="after")
    def _action_fits(self) -> "BaseRule":
        if not self.is_row_rule and self.on_fail in ("drop", "quarantine"):
            raise ValueError(
                f"{self.kind} judges the whole table: on_fail may be warn or fail, not {self.on_fail}"
            )
        return self


def _joined(columns: list[str]) -> str:
    return "_".join(columns)


class NotNullRule(BaseRule):
    not_null: str = Field(description="column that must not be null")

    def _default_name(self) -> str:
        return f"not_null_{self.not_null}"


class UniqueRule(BaseRule):
    """No two rows (of a window) share the key; the first occurrence is kept, later ones fail."""

    unique: list[str] = Field(min_length=1)

    @field_validator("unique", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        return as_list(value)

    def _default_name(self) -> str:
        return f"unique_{_joined(self.unique)}"


class AcceptedValuesParams(StrictModel):
    column: str
    values: list[Any] = Field(min_length=1)


class AcceptedValuesRule(BaseRule):
    accepted_values: AcceptedValuesParams

    def _default_name(self) -> str:
        return f"accepted_values_{self.accepted_values.column}"


class RangeParams(StrictModel):
    column: str
    min: float | int | str | None = None
    max: float | int | str | None = None
    inclusive: bool = Field(True, description="false: the bounds themselves fail")

    @model_validator(mode="after")
    def _bounds(self) -> "RangeParams":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        return self


class RangeRule(BaseRule):
    range: RangeParams

    def _default_name(self) -> str:
        return f"range_{self.range.column}"


class RegexParams(StrictModel):
    column: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class RegexRule(BaseRule):
    """Values must contain a match of the pattern (anchor it with ^...$ for whole values)."""

    regex: RegexParams

    def _default_name(self) -> str:
        return f"regex_{self.regex.column}"


class ReferentialParams(StrictModel):
    column: str
    to: str = Field(
        description="the referenced table, <layer>.<table> or <dataflow>.<layer>.<table>"
    )
    to_column: str | None = Field(None, description="default: the same name as column")


class ReferentialRule(BaseRule):
    referential: ReferentialParams

    def _default_name(self) -> str:
        return f"referential_{self.referential.column}"


class ExpressionParams(StrictModel):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="names the check: expression_<name>"
    )
    sql: str = Field(min_length=1, description="boolean SQL over the row; false or null fails")
    min_ratio: float = Field(1.0, ge=0, le=1, description="share of rows that must pass")


class ExpressionRule(BaseRule):
    expression: ExpressionParams

    def _default_name(self) -> str:
        return f"expression_{self.expression.name}"


class RowCountParams(StrictModel):
    min: int | None = Field(None, ge=0)
    max: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _bounds(self) -> "RowCountParams":
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min is above max")
        return self


class RowCountRule(BaseRule):
    row_count: RowCountParams


DriftAction = Literal["ignore", "warn", "error"]


class SchemaParams(StrictModel):
    columns: dict[str, ColumnType] = Field(min_length=1)
    new_column: DriftAction = "warn"
    missing_column: DriftAction = "error"
    type_change: DriftAction = "error"


class SchemaRule(BaseRule):
    """Expected columns and types; drift is judged by the policy (new warns, missing/changed errors)."""

    schema_: SchemaParams = Field(alias="schema")

    @property
    def kind(self) -> str:
        return "schema"

    @property
    def params(self) -> SchemaParams:
        return self.schema_


class FreshnessParams(StrictModel):
    column: str | None = Field(None, description="event time column; default: the window itself")
    max_age: Duration = Field(
        description="newest event no older than this before the window end (or now)"
    )


class FreshnessRule(BaseRule):
    freshness: FreshnessParams

    def _default_name(self) -> str:
        return f"freshness_{self.freshness.column or 'window'}"


class CountAuditParams(StrictModel):
    source: str | None = Field(
        None, description="the table counted against; default: the only input"
    )
    tolerance_pct: float = Field(
        0.0, ge=0, description="allowed difference, percent of the expected count"
    )
    account_for_removed: bool = Field(
        True, description="expect source - dropped - quarantined rows"
    )


class CountAuditRule(BaseRule):
    count_audit: CountAuditParams = CountAuditParams()

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict) and "count_audit" in value and value["count_audit"] is None:
            return {**value, "count_audit": {}}
        return value


class CustomParams(StrictModel):
    function: str = Field(
        description="dotted path; gets the frame and params, returns bool, dict or a row mask"
    )
    params: dict[str, Any] = Field(default_factory=dict)


class CustomRule(BaseRule):
    custom: CustomParams

    def _default_name(self) -> str:
        return f"custom_{self.custom.function.replace(':', '.').rsplit('.', 1)[-1]}"


class GreatExpectationsParams(StrictModel):
    suite: str | None = Field(None, description="suite JSON file next to dataflow.yaml")
    expectations: list[dict[str, Any]] | None = Field(
        None, description="expectations written inline"
    )

    @model_validator(mode="after")
    def _one(self) -> "GreatExpectationsParams":
        if (self.suite is None) == (self.expectations is None):
            raise ValueError("give exactly one of suite (a JSON file) or expectations (inline)")
        return self


class GreatExpectationsRule(BaseRule):
    """Runs an expectation suite through Great Expectations; one check per expectation."""

    great_expectations: GreatExpectationsParams

    @property
    def is_row_rule(self) -> bool:
        return False


RULE_MODELS: dict[str, type[BaseRule]] = {
    "not_null": NotNullRule,
    "unique": UniqueRule,
    "accepted_values": AcceptedValuesRule,
    "range": RangeRule,
    "regex": RegexRule,
    "referential": ReferentialRule,
    "expression": ExpressionRule,
    "row_count": RowCountRule,
    "schema": SchemaRule,
    "freshness": FreshnessRule,
    "count_audit": CountAuditRule,
    "custom": CustomRule,
    "great_expectations": GreatExpectationsRule,
}
_COMMON = set(BaseRule.model_fields)


@functools.cache
def _kind_of(model: type[BaseRule]) -> str:
    """A rule class's kind: its one field beyond the common ones (asked many times per table)."""
    return next(name for name in model.model_fields if name not in _COMMON)


def _rule_kind(value: Any) -> str | None:
    if isinstance(value, BaseRule):
        return value.kind
    if isinstance(value, dict):
        kinds = [key for key in value if key not in _COMMON]
        if len(kinds) == 1 and kinds[0] in RULE_MODELS:
            return kinds[0]
    return None


Rule = Annotated[
    Annotated[NotNullRule, Tag("not_null")]
    | Annotated[UniqueRule, Tag("unique")]
    | Annotated[AcceptedValuesRule, Tag("accepted_values")]
    | Annotated[RangeRule, Tag("range")]
    | Annotated[RegexRule, Tag("regex")]
    | Annotated[ReferentialRule, Tag("referential")]
    | Annotated[ExpressionRule, Tag("expression")]
    | Annotated[RowCountRule, Tag("row_count")]
    | Annotated[SchemaRule, Tag("schema")]
    | Annotated[FreshnessRule, Tag("freshness")]
    | Annotated[CountAuditRule, Tag("count_audit")]
    | Annotated[CustomRule, Tag("custom")]
    | Annotated[GreatExpectationsRule, Tag("great_expectations")],
    Discriminator(
        _rule_kind,
        custom_error_type="unknown_rule",
        custom_error_message=(
            "unknown rule; a rule is a mapping with exactly one of "
            + ", ".join(RULE_MODELS)
            + " (plus severity, on_fail, name, description)"
        ),
    ),
]


def expand_not_null(value: Any) -> Any:
    """`{not_null: [a, b], ...}` is two rules, one check per column."""
    if isinstance(value, list):
        expanded = []
        for item in value:
            columns = item.get("not_null") if isinstance(item, dict) else None
            if isinstance(columns, list):
                expanded += [{**item, "not_null": column} for column in columns]
            else:
                expanded.append(item)
        return expanded
    return value


class QuarantinePolicy(StrictModel):
    """Bound on the share of a window's rows that may be quarantined (a check of its own)."""

    max_ratio: float = Field(ge=0, le=1)
    severity: Severity = "error"


def rule_yaml_paths(
    lines: dict[tuple[str | int, ...], int], rules_path: tuple[str | int, ...], count: int
) -> list[tuple[str | int, ...]]:
    """The YAML path of each of a table's `count` rules, as validated (not_null lists expanded).

    `{not_null: [a, b]}` at `rules[1]` is two rules whose paths are `rules[1].not_null[0]` and
    `rules[1].not_null[1]`, so the rules after it are one further on in the YAML than in the
    model. Rules that came from the defaults chain are not in the file: their paths fall back
    to the table's line.
    """
    paths: list[tuple[str | int, ...]] = []
    index = 0
    while len(paths) < count:
        item = (*rules_path, index)
        listed = [(*item, "not_null", j) for j in range(count) if (*item, "not_null", j) in lines]
        paths += listed or [item]
        index += 1
    return paths[:count]
