"""One error type for every invalid declaration, readable without a traceback."""

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one declaration file."""

    field: str
    reason: str
    line: int | None = None

    def render(self, file: Path | str) -> str:
        where = f"{file}, line {self.line}" if self.line else f"{file}"
        return f"{where}: {self.field or '<top>'}: {self.reason}"


@dataclass
class DeclarationError(Exception):
    """A declaration (dataflow or resource profile) that cannot be loaded.

    The message names the file, the field path (for example
    `staging.orders.steps[1].cast.amount`), the line when known, and what was expected.
    Loading stops at the first invalid file so that no dataflow is ever half-loaded.
    """

    file: Path | str
    problems: list[Problem] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"invalid declaration in {self.file}:"]
        lines += [f"  - {problem.render(self.file)}" for problem in self.problems]
        return "\n".join(lines)

    @classmethod
    def single(
        cls, file: Path | str, field_path: str, reason: str, line: int | None = None
    ) -> "DeclarationError":
        return cls(file, [Problem(field_path, reason, line)])
