"""Who did it: `keys` (staff SSH keys in the policy) and `server` (a shared remote that
guards itself). Each: parse, call `cbtrack.staffkeys` or `cbtrack.server`, print."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cbtrack.cli.app import JsonOpt, app, state
from cbtrack.lazy import lazy_module

if TYPE_CHECKING:
    from cbtrack import render
else:  # loaded when a command runs, so --help stays cheap
    render = lazy_module("cbtrack.render")

keys_app = typer.Typer(
    no_args_is_help=True,
    help="Staff SSH keys in the policy, for signed changes.\n\n"
    "Example: cbtrack --as lee keys add rnpatel rnpatel.pub",
)
app.add_typer(keys_app, name="keys")

server_app = typer.Typer(
    no_args_is_help=True,
    help="The practice's shared git repository, which judges every push.\n\n"
    "Example: cbtrack server init /srv/git/callbacks.git",
)
app.add_typer(server_app, name="server")


@keys_app.command("add")
def keys_add(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(metavar="USER", help="A staff member in the policy.")],
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="PUBKEY_FILE",
            help="Their public key (the .pub ssh-keygen made); default: this desk's own key.",
        ),
    ] = None,
) -> None:
    """Give a staff member their SSH public key in the policy and commit it (a policy
    change: the practice's admin makes it once there is one).

    Example: cbtrack --as lee keys add rnpatel /media/usb/rnpatel.pub
    """
    from cbtrack import staffkeys

    st = state(ctx)
    store = st.store()
    key = staffkeys.read_public_key(file, store.root)
    fp = staffkeys.set_key(store, st.user, st.now(), user, key)
    typer.echo(render.printable(f"Key {fp} is now {user}'s; committed to the policy."))


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(metavar="USER", help="A staff member in the policy.")],
) -> None:
    """Take a staff member's key out of the policy (a lost laptop, someone leaving): from
    this commit on, it signs nothing the store accepts.

    Example: cbtrack --as lee keys revoke jlee
    """
    from cbtrack import staffkeys

    st = state(ctx)
    fp = staffkeys.set_key(st.store(), st.user, st.now(), user, None)
    typer.echo(render.printable(f"Key {fp} of {user} revoked; committed to the policy."))


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The staff keys in the policy: user, fingerprint, comment.

    Example: cbtrack keys list --json
    """
    from cbtrack import staffkeys

    store = state(ctx).store()
    found = staffkeys.list_keys(store)
    if as_json:
        typer.echo(render.to_json({"signing": store.policy.signing,
                                   "keys": [k.as_dict() for k in found]}))  # fmt: skip
        return
    typer.echo(f"Signing: {store.policy.signing}.")
    for k in found:
        typer.echo(render.printable(f"{k.user}  {k.fingerprint}  {k.comment}".rstrip()))
    if not found:
        typer.echo("No staff key in the policy yet; add one with 'cbtrack keys add USER FILE'.")


@server_app.command("init")
def server_init(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="Folder for the bare repository.")],
) -> None:
    """Make the practice's shared repository: a bare git repository whose pre-receive hook
    judges every pushed commit by cbtrack's history rules (signatures too, when the policy
    requires them) and rejects a push that breaks one. Desks clone it over SSH.

    Example: cbtrack server init /srv/git/callbacks.git
    """
    from cbtrack import server

    where = server.init(path)
    typer.echo(render.printable(f"Shared store repository ready at {where}; clone it from "
                                "each desk (git clone HOST:PATH)."))  # fmt: skip


@server_app.command("check")
def server_check(
    path: Annotated[Path, typer.Argument(metavar="PATH", help="The bare repository.")],
    as_json: JsonOpt = False,
) -> None:
    """Judge the shared repository's whole history as its hook judges a push. Exit 1 on
    any finding.

    Example: cbtrack server check /srv/git/callbacks.git
    """
    from cbtrack import server

    found = server.check(path)
    if as_json:
        typer.echo(render.to_json({"ok": not found, "findings": [f.as_dict() for f in found]}))
    else:
        for f in found:
            typer.echo(render.printable(f"{f.kind}: {f.message}"))
        if not found:
            typer.echo("Every commit passes the history rules.")
    if found:
        raise typer.Exit(1)
