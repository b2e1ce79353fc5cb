"""How the CLI speaks: one console, one-line errors with the fix, JSON for scripts."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from services.core.errors import MeritError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def errors_as_one_line(fn: F) -> F:
    """Render MeritError as one line with its fix, and exit with the error's code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MeritError as exc:
            raise fail(exc.one_line(), exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def field_table(title: str) -> Table:
    """A table of one thing's fields, without a header: a row of field and value each."""
    table = Table(title=title, show_header=False)
    table.add_column("field")
    table.add_column("value")
    return table
