"""Git commands: sync, log, verify, and the two that git itself calls (merge-driver,
check-staged). Each: parse, call `cbtrack.sync` or `cbtrack.audit`, print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli.app import JsonOpt, app, state, term_width, warn
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import gitlog, render
else:  # loaded when a command runs, so --help stays cheap
    gitlog = lazy_module("cbtrack.gitlog")
    render = lazy_module("cbtrack.render")


@app.command(name="sync")
def sync_cmd(
    ctx: typer.Context,
    remote: Annotated[
        str, typer.Option("--remote", help="The git remote to share with.")
    ] = "origin",
    as_json: JsonOpt = False,
) -> None:
    """Share the queue: fetch, merge and push what this desk has committed.

    Uncommitted files (a hand edit, a policy edit) are named and never committed by sync:
    keep one with git (the hook judges it) or drop it; the lead commits the policy with
    'cbtrack validate --commit'.

    Records changed on both desks are merged by the record rules (attempts and events are
    never lost); a remote whose history was rewritten is refused, and so is pushing a
    commit that breaks the history rules (see 'cbtrack verify'). Never rebases or forces.

    Example: cbtrack --as jlee sync --remote origin
    """
    st = state(ctx)
    store = st.store()
    from cbtrack import sync

    out = sync.sync(store, st.user, st.now(), remote)
    warn([f"not shared (uncommitted): {m}" for m in out.left_out] + out.notes)
    if as_json:
        typer.echo(
            render.to_json(
                {
                    "remote": out.remote,
                    "branch": out.branch,
                    "left_out": out.left_out,
                    "incoming_commits": out.incoming,
                    "merged_records": out.merged,
                    "pushed": out.pushed,
                    "push_retries": out.retries,
                    "judged_before_lock": out.prejudged,
                    "lock_held_s": round(max(out.lock_holds, default=0.0), 3),
                    "notes": out.notes,
                    "head": out.head,
                }
            )
        )
        return
    parts = []
    if out.incoming:
        parts.append(f"took in {out.incoming} commit(s)")
    if out.merged:
        parts.append(f"merged {len(out.merged)} record(s) changed on both sides")
    parts.append("pushed" if out.pushed else "nothing to push")
    if out.retries:
        parts.append(f"after {out.retries} retr{'y' if out.retries == 1 else 'ies'} (another desk "
                     "pushed first)")  # fmt: skip
    typer.echo(f"Synced with {out.remote}/{out.branch}: {', '.join(parts)}.")


@app.command(name="log")
def log_cmd(
    ctx: typer.Context,
    callback_id: Annotated[
        str, typer.Argument(metavar="ID", help="The callback ID, or its last 5 characters.")
    ],
    as_json: JsonOpt = False,
) -> None:
    """A callback's history: every commit that touched it (who, when, what), merged with
    its attempts and events, oldest first.

    Example: cbtrack log cb-20261127-k7m2q
    """
    st = state(ctx)
    store = st.store()
    from cbtrack import audit

    cid, entries = audit.record_history(store, callback_id)
    if as_json:
        typer.echo(render.to_json({"id": cid, "entries": [e.as_dict() for e in entries]}))
        return
    typer.echo(f"History of {cid}:")
    for line in render.log_lines(entries, st.now(), store.policy.tz, term_width()):
        typer.echo(line)


@app.command(
    short_help="Walk the git history and judge every commit by the history rules; "
    "report each breach."
)
def verify(
    ctx: typer.Context,
    full: Annotated[
        bool,
        typer.Option(
            "--full", help="Walk all history, not only the commits since the last clean verify."
        ),
    ] = False,
    accept: Annotated[
        bool,
        typer.Option(
            "--accept",
            help="After the lead has reviewed the findings: record the current heads as verified.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Walk the git history and judge every commit by the history rules: an attempt or
    event changed or removed, a record deleted, moved out of its folder or made invalid,
    a creation field changed, a closure or status changed without its event; and any
    history rewritten since the last verify. Exit 1 on any finding.

    Example: cbtrack verify --json
    """
    st = state(ctx)
    from cbtrack import audit

    report = audit.verify(st.store(), full=full, accept=accept, now=st.now())
    if as_json:
        typer.echo(
            render.to_json(
                {
                    "ok": report.ok,
                    "head": report.head,
                    "since": report.since,
                    "commits_checked": report.commits,
                    "recorded_as_verified": report.recorded,
                    "findings": [f.as_dict() for f in report.findings],
                }
            )
        )
    elif report.ok:
        typer.echo(
            f"History verified: {report.commits} commit(s) checked against the history "
            "rules, no finding."
        )
    else:
        for f in report.findings:
            typer.echo(render.printable(f"{f.kind}: {f.message}"))
    if not report.ok:
        if report.recorded:  # --accept: the lead has reviewed them; that is a success
            if not as_json:
                typer.echo(f"{len(report.findings)} finding(s) accepted as reviewed.")
            return
        if not as_json:
            typer.echo(f"Error: {len(report.findings)} finding(s) found in the history.", err=True)
        raise typer.Exit(1)


@app.command(name="merge-driver", hidden=True)
def merge_driver(
    base: Annotated[Path, typer.Argument(metavar="BASE", help="%O: the common version.")],
    ours: Annotated[Path, typer.Argument(metavar="OURS", help="%A: this side; gets the result.")],
    theirs: Annotated[Path, typer.Argument(metavar="THEIRS", help="%B: the other side.")],
    path: Annotated[str, typer.Argument(metavar="PATH", help="%P: the file's path.")] = "record",
) -> None:
    """Git's merge driver for callback records (set up by init and by every command that
    commits): union of attempts and events, other fields by the documented rules.

    Example: git config merge.cbtrack.driver 'python3 -m cbtrack merge-driver %O %A %B %P'
    """
    from cbtrack import mergedriver

    code = mergedriver.run([str(base), str(ours), str(theirs), path])
    if code:
        raise typer.Exit(code)


@app.command(name="check-staged", hidden=True)
def check_staged(ctx: typer.Context) -> None:
    """Validate staged records (the pre-commit hook that init installs runs this).

    Example: cbtrack --store . check-staged
    """
    from cbtrack import audit

    problems = audit.check_staged(state(ctx).store())
    for p in problems:
        typer.echo(f"cbtrack: {render.printable(p)}", err=True)
    if problems:
        typer.echo(
            "Error: commit refused; fix the record(s) above, or restore them with "
            "'git checkout HEAD -- FILE'.",
            err=True,
        )
        raise typer.Exit(1)
