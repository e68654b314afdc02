"""How the data commands talk: results on stdout, everything else on stderr.

Exit codes are part of the CLI's contract (documented in docs/cli.md):

    0  success
    1  unexpected error (a bug, or an error without a better code)
    2  usage error: bad option or argument (click's own code)
    3  authentication failed, the session expired and could not be renewed, or no usable org
       (unknown alias, no credentials)
    4  Salesforce rejected the request: bad SOQL, unknown object or field, missing permission,
       a query Bulk API 2.0 cannot run
    5  a Bulk job failed or was aborted
    6  an import finished but some rows failed or were not processed
    7  Salesforce or the network stayed unavailable after retries (503, 429, dropped
       connections, request limits)
    130 interrupted (Ctrl-C)
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NoReturn, Self

import click
import orjson

from ..auth.errors import OrgStoreError
from ..salesforce.errors import (
    AuthError,
    BulkJobError,
    ConnectionLostError,
    RateLimitedError,
    RequestLimitError,
    SalesforceError,
    ServerUnavailableError,
)

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_REJECTED = 4
EXIT_JOB_FAILED = 5
EXIT_PARTIAL = 6
EXIT_UNAVAILABLE = 7
EXIT_INTERRUPTED = 130


def exit_code_for(error: BaseException) -> int:
    """The documented exit code for an error."""
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, AuthError | OrgStoreError):
        return EXIT_AUTH
    if isinstance(error, BulkJobError):
        return EXIT_JOB_FAILED
    if isinstance(
        error, ServerUnavailableError | ConnectionLostError | RateLimitedError | RequestLimitError
    ):
        return EXIT_UNAVAILABLE
    if isinstance(error, SalesforceError):
        return EXIT_REJECTED
    return EXIT_ERROR


def stderr(message: str, *, quiet: bool = False) -> None:
    """A line for the human on stderr (never stdout: stdout holds results only)."""
    if not quiet:
        click.echo(message, err=True)


def fail(error: BaseException, *, as_json: bool = False) -> NoReturn:
    """Report `error` (on stderr, or as JSON on stdout with --json) and exit with its code."""
    code = exit_code_for(error)
    message = str(error) or type(error).__name__
    if isinstance(error, KeyboardInterrupt):
        message = "interrupted"
    if as_json:
        payload: dict[str, Any] = {"ok": False, "error": type(error).__name__, "message": message}
        if isinstance(error, SalesforceError) and error.error_code:
            payload["errorCode"] = error.error_code
        if isinstance(error, BulkJobError):
            payload["jobId"] = error.job_id
            payload["state"] = error.state
        emit_json(payload)
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


def emit_json(data: Any) -> None:
    """`data` as one JSON document on stdout."""
    click.echo(orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS).decode())


def is_terminal() -> bool:
    """True when stderr is a terminal (the only place progress bars go)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


def human_bytes(size: float) -> str:
    """`1.2 MB`-style size."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"  # pragma: no cover


class Progress:
    """A rich progress bar on stderr (rows, MB, rate) when stderr is a terminal, else nothing."""

    def __init__(self, description: str, *, enabled: bool) -> None:
        self._enabled = enabled
        self._description = description
        self._progress: Any = None
        self._task: Any = None
        self._bytes = 0

    def __enter__(self) -> Self:
        if self._enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import (
                Progress as RichProgress,
            )

            self._progress = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TextColumn("{task.fields[mb]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._progress.__enter__()
            self._task = self._progress.add_task(self._description, total=None, mb="", rate="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def update(
        self,
        *,
        rows: int | None = None,
        total: int | None = None,
        nbytes: int | None = None,
        status: str | None = None,
    ) -> None:
        """Move the bar: rows done, total rows when known, bytes moved, a status word."""
        if self._progress is None:
            return
        fields: dict[str, Any] = {}
        if nbytes is not None:
            self._bytes = nbytes
            fields["mb"] = f"{nbytes / 1e6:.1f} MB"
        task = self._progress.tasks[0]
        if rows is not None and task.elapsed:
            fields["rate"] = f"{rows / max(task.elapsed, 1e-6):,.0f} rows/s"
        description = f"{self._description} ({status})" if status else None
        self._progress.update(
            self._task,
            completed=rows if rows is not None else task.completed,
            total=total if total is not None else task.total,
            description=description or self._description,
            **fields,
        )


@contextlib.contextmanager
def handle_errors(as_json: bool) -> Iterator[None]:
    """Turn errors into the documented exit codes, with a message on stderr."""
    try:
        yield
    except click.exceptions.Exit:
        raise
    except click.ClickException:
        raise
    except (KeyboardInterrupt, SalesforceError, OrgStoreError, OSError, ValueError) as error:
        fail(error, as_json=as_json)


def print_records_table(records: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """Records as a table on stdout: rich on a terminal, plain aligned text in a pipe."""
    cells = [["" if r.get(c) is None else str(r.get(c)) for c in columns] for r in records]
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in cells:
            table.add_row(*row)
        Console(soft_wrap=False).print(table)
        return
    # Never cut or wrap a value when the output feeds another program.
    flat = [[v.replace("\n", " ") for v in row] for row in cells]
    widths = [max([len(c), *(len(row[i]) for row in flat)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in flat
    ]
    click.echo("\n".join(lines))


def run_async(factory: Callable[[], Any]) -> Any:
    """Run a coroutine from a click command."""
    import asyncio

    return asyncio.run(factory())


def setup_logging(*, quiet: bool, verbose: bool = False) -> None:
    """Log to stderr: warnings by default, info with --verbose, errors only with --quiet."""
    import logging

    level = logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING
    root = logging.getLogger("sfbulk_mcp")
    if not any(getattr(h, "_sfbulk_cli", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        handler._sfbulk_cli = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
