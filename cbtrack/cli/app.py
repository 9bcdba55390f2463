"""The typer application, global options, and the one place errors become exit codes."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from typer.core import TyperGroup

from cbtrack.errors import CbtrackError
from cbtrack.lazy import lazy_module
from cbtrack.terminal import color_ok as color_ok, term_width as term_width

if TYPE_CHECKING:
    from cbtrack import clock, render
    from cbtrack.store import Store
else:  # loaded when a command first needs them, so --help stays cheap
    clock = lazy_module("cbtrack.clock")
    render = lazy_module("cbtrack.render")


def printable(text: str) -> str:
    """`render.printable` (loaded on first use: an error, a warning, a note)."""
    return render.printable(text)


def fail(message: str, code: int) -> NoReturn:
    """`Error: <sentence>` on stderr; any text of the user's in it is shown escaped."""
    typer.echo(f"Error: {printable(message)}", err=True)
    raise typer.Exit(code)


def _escaped_usage_error(exc: Exception) -> Exception | None:
    """A usage error (exit 2) quotes what was typed: make it printable, and one sentence
    on one line (`Error: ... (see 'cbtrack CMD --help').`), without the usage lines typer
    puts above it or the "Value error, " its value checks leave in it. Returns the error
    to raise instead, if any."""
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError

    # (typer bundles its own click.) No arguments at all shows the help, which is ours and
    # laid out on several lines: nothing typed to escape there.
    if not isinstance(exc, ClickException) or isinstance(exc, NoArgsIsHelpError):
        return None
    if isinstance(exc, UsageError) and exc.ctx is not None:
        message = " ".join(exc.format_message().replace("Value error, ", "").split())
        command = " ".join(["cbtrack", *exc.ctx.command_path.split()[1:]])
        message = f"{message.rstrip('.')} (see '{command} --help')."
        return UsageError(printable(message))  # (no context: shown on one line)
    exc.message = printable(exc.message)
    return None


class Group(TyperGroup):
    """Turns every CbtrackError into `Error: <sentence>` on stderr and its exit code.
    Any other exception is a bug: one line on stderr, and its type, files and line numbers
    (never its message or variables, which may hold patient data) in a private log."""

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """Each command also takes the global options `--store` and `--as` after its name."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _accept_global_options(command, self.params)
            _plain_text_options(command)
        return command

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        _plain_text_options(self)
        try:
            return super().make_context(*args, **kwargs)
        except Exception as exc:
            one_line = _escaped_usage_error(exc)
            if one_line is not None:
                raise one_line from None
            raise

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CbtrackError as exc:
            fail(exc.message, exc.exit_code)
        except KeyboardInterrupt:
            fail("Interrupted; nothing was written by the unfinished command.", 130)
        except BrokenPipeError:
            sys.stderr.close()
            raise typer.Exit(0) from None
        except Exception as exc:
            from typer.exceptions import Abort, Exit, TyperException

            if isinstance(exc, Exit | Abort | TyperException):
                one_line = _escaped_usage_error(exc)
                if one_line is not None:
                    raise one_line from None
                raise  # typer's own signals: exits and usage errors
            self.unexpected(ctx, exc)
        finally:
            obj = ctx.find_root().obj
            if isinstance(obj, State) and obj._store is not None:
                obj._store.close()  # (typer's test runner runs many commands in one process)

    @staticmethod
    def unexpected(ctx: Any, exc: Exception) -> NoReturn:
        from cbtrack import doctor

        obj = ctx.find_root().obj
        root: Path | None = None
        if isinstance(obj, State):
            if obj._store is not None:
                root = obj._store.root
            else:
                from cbtrack.store import Store

                try:
                    root = Store.find(obj.store_dir).root
                except Exception:  # (the failure being reported may be this very one)
                    root = None
        path = doctor.log_failure(exc, root, ctx.invoked_subcommand)
        where = f"details were written to {path}" if path else "no details could be saved"
        fail(f"unexpected failure ({type(exc).__name__}); {where}.", 1)


GLOBAL_OPTIONS = {"--store": "store_dir", "--as": "user_opt"}  # option -> State field


def _accept_global_options(command: Any, root_params: list[Any]) -> None:
    """Give `command` (and a sub-group's commands) copies of the root's `--store`
    and `--as`; a value given after the command name wins over one given before it."""
    import copy

    if getattr(command, "_cbtrack_globals", False):
        return
    command._cbtrack_globals = True
    taken = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for param in root_params:
        field_name = next((GLOBAL_OPTIONS[o] for o in param.opts if o in GLOBAL_OPTIONS), None)
        if field_name is None or taken & set(param.opts):
            continue
        clone = copy.copy(param)
        clone.name = f"_global_{field_name}"
        clone.expose_value = False
        clone.callback = _set_global(field_name)
        command.params.append(clone)
    for sub in getattr(command, "commands", {}).values():
        _accept_global_options(sub, root_params)


# The typer releases `_plain_text_options` was written for (tests/test_startup.py checks it
# there): from the first with `typer._coercion` up to, not including, this one.
PLAIN_TEXT_TYPER = (0, 30)


def plain_text_typer() -> bool:
    """Whether the installed typer is one `_plain_text_options` knows."""
    try:
        parts = str(typer.__version__).split(".")[:2]
        return (int(parts[0]), int(parts[1])) < PLAIN_TEXT_TYPER
    except (AttributeError, ValueError, IndexError):
        return False


def _plain_text_options(command: Any) -> None:
    """Typer checks every option's value with a pydantic `TypeAdapter`, which costs a
    command some 0.1 s of imports and schema building before it starts. For a text option
    (`str`, no parser) given plain text, or any option not given, that check returns the
    value as it is, and for an option with a parser (`options.whole_number`) it returns
    what the parser does: answer those directly, and build typer's own check for anything else
    (numbers, choices, text pydantic would refuse), so every error stays typer's.
    This leans on typer's internals (`typer._coercion`), so it is applied only to the typer
    releases it was written and tested for (`PLAIN_TEXT_TYPER`); with any other typer it does
    nothing and typer checks every option itself."""
    if not plain_text_typer():
        return
    try:
        from typer._coercion import RuntimeParam, build_runtime_param
    except ImportError:
        return

    class PlainText(RuntimeParam):
        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            parser = self.parameter_info.parser
            if parser is not None and type(value) is str:
                return parser(value)  # (what typer's own check does with it)
            if type(value) is str and self.annotation is str:
                try:
                    value.encode("utf-8")  # (pydantic refuses lone surrogates)
                    return value
                except UnicodeEncodeError:
                    pass
            real = build_runtime_param(param.type_descriptor)
            param._runtime_param = real
            return real.coerce(value, param=param, ctx=ctx)

    def plain(param: Any) -> Any:
        desc = getattr(param, "type_descriptor", None)
        if desc is None or getattr(param, "_runtime_param", True) is not None:
            return param
        if desc.file_annotation is None:
            param._runtime_param = PlainText(desc.parameter_info, desc.annotation)
        return param

    if getattr(command, "_cbtrack_plain", False):
        return
    command._cbtrack_plain = True
    try:
        for param in command.params:
            plain(param)
    except AttributeError:  # another typer: leave its checks as they are
        for param in command.params:
            if isinstance(getattr(param, "_runtime_param", None), PlainText):
                param._runtime_param = None
        return
    help_option = command.get_help_option  # (made on first use, so wrapped)
    command.get_help_option = lambda ctx: plain(help_option(ctx))
    for sub in getattr(command, "commands", {}).values():
        _plain_text_options(sub)


def _set_global(field_name: str) -> Any:
    def callback(ctx: Any, _param: Any, value: str | None) -> str | None:
        if value is not None:
            st = state(ctx)
            if st._store is None:
                setattr(st, field_name, value)
        return value

    return callback


class YesNo(StrEnum):
    yes = "yes"
    no = "no"


IdArg = Annotated[
    str,
    typer.Argument(metavar="ID", help="The callback ID, or its last 5 characters."),
]


app = typer.Typer(
    cls=Group,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    help="Patient callback tracking for small medical practices.\n\n"
    "Example: cbtrack --store ~/callbacks --as jlee queue",
)


@dataclass
class State:
    store_dir: str | None = None
    user_opt: str | None = None
    _store: Store | None = field(default=None, repr=False)
    #: Warnings shown only once the command succeeds (a due time moved off a closed day).
    notes: list[str] = field(default_factory=list)

    def store(self, policy_notice: bool = True) -> Store:
        """The store; says on stderr when its policy has uncommitted edits (unless the
        command reports that itself)."""
        if self._store is None:
            from cbtrack.store import Store

            self._store = Store.find(self.store_dir)
            self._store.on_wait = lambda: typer.echo(
                "Waiting for another cbtrack command to finish (store lock)...", err=True
            )
            self._store.on_notice = lambda m: typer.echo(f"Note: {printable(m)}.", err=True)
            from cbtrack import progress

            if progress.wanted(sys.stderr.isatty()):
                self._store.on_progress = show_progress
            if policy_notice:
                from cbtrack import service

                if service.policy_uncommitted(self._store) and not self._store.policy_problems():
                    typer.echo(
                        "Warning: cbtrack.yaml has edits that are not committed; this command "
                        "follows them, except for who is on the staff with which roles, "
                        "signing and alerts, which stay as committed until the edits are "
                        "checked and committed with 'cbtrack validate --commit'.",
                        err=True,
                    )
        return self._store

    @property
    def user(self) -> str | None:
        return self.user_opt or os.environ.get("CBTRACK_USER") or None

    def tz(self) -> ZoneInfo:
        return self.store().policy.tz

    def now(self, tz: ZoneInfo | None = None) -> datetime:
        """`$CBTRACK_NOW` when set, else the clock; in the practice's time zone."""
        return clock.current(tz or self.tz())

    def when(self, text: str) -> datetime:
        return clock.parse_when(text, self.tz(), self.now())

    def due(self, text: str) -> datetime:
        """A due time; a bare date means the close of business that day. A friendly form
        that lands on a day the practice is closed (`in 3d` on a Thursday) moves to the next
        business day's opening; either way stderr says so once the command succeeds."""
        moment = self.when(text)
        calendar = self.store().policy.calendar
        if clock.is_date_only(text):
            close = calendar.close
            moment = moment.replace(hour=close.hour, minute=close.minute)
        local = moment.astimezone(self.tz())
        if calendar.is_business_day(local.date()):
            return moment
        closed = f"the due time falls on {local:%a %d %b}, when the practice is closed"
        if clock.is_iso(text):  # a date typed out in full is kept as typed
            self.notes.append(f"{closed}; kept as given.")
            return moment
        day = calendar.next_business_day(local.date())
        moved = datetime.combine(day, calendar.open, tzinfo=self.tz())
        self.notes.append(f"{closed}; it is due {moved:%a %d %b %H:%M} instead.")
        return moved


def show_progress(line: str) -> None:
    """Long work, on one line of the terminal that is rewritten (and cleared at the end);
    elsewhere (progress forced with CBTRACK_PROGRESS=1) one plain line each."""
    if not sys.stderr.isatty():
        if line:
            sys.stderr.write(f"{line}\n")
        return
    sys.stderr.write(f"\r\x1b[K{line}")
    sys.stderr.flush()


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    if not isinstance(obj, State):
        obj = State()
        ctx.find_root().obj = obj
    return obj


@app.callback()
def main_options(
    ctx: typer.Context,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="DIR",
            help="The store folder (else $CBTRACK_STORE, "
            "else the nearest folder upwards holding cbtrack.yaml).",
        ),
    ] = None,
    as_user: Annotated[
        str | None,
        typer.Option("--as", metavar="USER", help="Who is acting (else $CBTRACK_USER)."),
    ] = None,
) -> None:
    """Patient callback tracking for small medical practices.

    Example: cbtrack --store ~/callbacks --as jlee queue
    """
    ctx.obj = State(store_dir=store, user_opt=as_user)


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON to stdout and nothing else.")]


def warn(messages: list[str]) -> None:
    for m in messages:
        typer.echo(f"Warning: {printable(m)}", err=True)


def unreadable_exit(problems: list[str]) -> None:
    """After listing what could be read: name each file that could not be, one line each
    on stderr, and exit 3, so that cron and scripts know the list is incomplete."""
    for problem in problems:
        typer.echo(f"Error: {printable(problem)}", err=True)
    if problems:
        raise typer.Exit(3)


def store_path(text: str) -> Path:
    return Path(text).expanduser()
