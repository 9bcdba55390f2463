"""Strict YAML for records and the policy: one pass over libyaml's events that refuses
anchors, aliases, tags, duplicate keys and deep nesting; the writer that gives every record
the same shape; and reading a file into a validated model with one-line problems."""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from cbtrack.errors import Refused, StoreError
from cbtrack.model import Callback, describe_validation
from cbtrack.policy import Policy
from cbtrack.policyproblems import describe_policy_problems

M = TypeVar("M", bound=BaseModel)
MAX_DEPTH = 32  # records nest about 4 deep, the policy about 5


# --- strict YAML ---------------------------------------------------------------------


class _YamlProblem(Exception):
    def __init__(self, what: str, node: Any) -> None:
        super().__init__(what)
        self.what = what
        mark = getattr(node, "start_mark", None)
        self.line: int | None = mark.line + 1 if mark else None


class _NoKey:
    """Marks a mapping that waits for its next key."""


_NO_KEY = _NoKey()
_SCALAR = yaml.ScalarEvent
_MAPPING = yaml.MappingStartEvent
_SEQUENCE = yaml.SequenceStartEvent
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)


def parse_yaml(text: str) -> Any:
    """Safe, strict YAML: no anchors, aliases or tags, no duplicate keys, text scalars.

    One pass over libyaml's event stream builds plain dicts, lists and strings (about
    three times faster than composing nodes and constructing them). So an alias bomb, a
    tag or deep nesting is refused at its first event, before anything is built."""
    loader = yaml.CBaseLoader(text)
    try:
        return _build(loader.get_event)
    finally:
        loader.dispose()


def _build(next_event: Any) -> Any:
    # `top` is the innermost open container (None at the top level) and `key` the key it
    # waits a value for; `outer` holds the same pair for each container around it.
    outer: list[tuple[Any, Any]] = []
    top: Any = None
    key: Any = _NO_KEY
    root: Any = None
    documents = 0
    event: Any
    while True:
        event = next_event()
        kind = type(event)
        if kind is _SCALAR or kind is _MAPPING or kind is _SEQUENCE:
            if event.anchor:
                raise _YamlProblem("anchors (&name) are not allowed", event)
            if event.tag:
                raise _YamlProblem("tags (!name) are not allowed", event)
            value: Any = event.value if kind is _SCALAR else {} if kind is _MAPPING else []
            if top is None:
                root = value
            elif type(top) is list:
                top.append(value)
            elif key is _NO_KEY:
                if kind is not _SCALAR:
                    raise _YamlProblem("a mapping key is not plain text", event)
                if value in top:
                    # The key is not named: in `details` a key is free text.
                    raise _YamlProblem("a key appears twice in one mapping", event)
                key = value
                continue
            else:
                top[key] = value
                key = _NO_KEY
            if kind is not _SCALAR:
                if len(outer) >= MAX_DEPTH:
                    raise _YamlProblem(f"nesting deeper than {MAX_DEPTH} levels", event)
                outer.append((top, key))
                top, key = value, _NO_KEY
        elif kind in _ENDS:
            top, key = outer.pop()
        elif kind is yaml.AliasEvent:
            raise _YamlProblem("aliases (*name) are not allowed", event)
        elif kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _YamlProblem("only one YAML document is allowed per file", event)
        elif kind is yaml.StreamEndEvent or event is None:
            return root


_YAML12_NUMBER = re.compile(
    r"[-+]?(\d+|\d*\.\d+|\d+\.\d*)([eE][-+]?\d+)?|0o[0-7]+|0x[0-9a-fA-F]+"
    r"|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
)


class _Dumper(yaml.CSafeDumper):
    """Quotes text that YAML 1.1 *or* 1.2 readers would take for something else, so a
    phone `0123456789` or an MRN `1e5` stays text in any tool that reads the store."""


def _represent_str(dumper: _Dumper, value: str) -> yaml.Node:
    if _YAML12_NUMBER.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="'")
    return dumper.represent_str(value)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(data: Any, flow: bool = False) -> str:
    """Stable, diff-friendly YAML: key order as given, ambiguous strings quoted
    (`flow`: on one line, `{a: b, c: [d]}`)."""
    return yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=flow,
        width=10_000,
    )


def record_data(cb: Callback) -> dict[str, Any]:
    return cb.model_dump(mode="json", exclude_none=True)


def dump_record(cb: Callback) -> str:
    """The record as YAML, after validating the whole of it once more."""
    data = record_data(cb)
    try:
        Callback.model_validate(data)
    except ValidationError as exc:
        problem = describe_validation(exc)
        raise Refused(f"The change would make {cb.id} invalid: {problem}.") from None
    return dump_yaml(data)


class FileGone(StoreError):
    """A file that was there a moment ago is not: a concurrent close or reopen moved it
    (records are moved by writing the new place first, then removing the old)."""


def read_text(path: Path, limit: int, rel: str) -> str:
    """A regular file of at most `limit` bytes, as UTF-8. Never blocks on a FIFO or device,
    never reads more than `limit` bytes, never quotes the content in an error."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise FileGone(f"{rel} is missing.") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(
                f"{rel} is a symbolic link; a cbtrack file must be a regular file."
            ) from None
        raise StoreError(f"{rel} cannot be read ({exc.strerror}).") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"{rel} is not a regular file; it cannot be a cbtrack file.")
        if info.st_size > limit:
            raise StoreError(f"{rel} is larger than {limit // 1000} KB; it cannot be a valid file.")
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise StoreError(f"{rel} cannot be read ({exc.strerror}).") from None
    finally:
        os.close(fd)
    return decode_text(b"".join(chunks), limit, rel)


def decode_text(raw: bytes, limit: int, rel: str) -> str:
    """Bytes read from a file or from git, checked like a file: size, then UTF-8."""
    if len(raw) > limit:
        raise StoreError(f"{rel} is larger than {limit // 1000} KB; it cannot be a valid file.")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StoreError(f"{rel} is not valid UTF-8 (byte {exc.start}).") from None


def load_model(model: type[M], path: Path, rel: str, limit: int) -> M:
    """Read, parse and validate one file; errors name the file, line or field, never values."""
    return parse_model(model, read_text(path, limit, rel), rel)


def parse_policy(text: str, rel: str) -> Policy:
    """`parse_model(Policy, ...)`, kept between commands for this exact text
    (`rulecache.policy`): every command reads the policy, and checking it is not cheap."""
    from cbtrack import rulecache

    return rulecache.policy(text, lambda: parse_model(Policy, text, rel), Policy)


def load_policy(path: Path, rel: str, limit: int) -> Policy:
    return parse_policy(read_text(path, limit, rel), rel)


def _yaml_fix(rel: str) -> str:
    """What to do about a file that is not YAML cbtrack reads (after a hand edit)."""
    return (
        "fix it there in a text editor (a missing quote, bracket or colon, or a key typed "
        f"twice, is usual), or take back the last committed version with 'git checkout -- {rel}'"
    )


def parse_model(model: type[M], text: str, rel: str) -> M:
    """Parse and validate text read from `rel` (a file, or a version of it from git)."""
    try:
        data = parse_yaml(text)
    except _YamlProblem as exc:
        where = f" line {exc.line}" if exc.line else ""
        raise StoreError(f"{rel}{where}: {exc.what}; {_yaml_fix(rel)}.") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" line {mark.line + 1} column {mark.column + 1}" if mark else ""
        raise StoreError(f"{rel}{where}: not valid YAML; {_yaml_fix(rel)}.") from None
    except (yaml.YAMLError, RecursionError, MemoryError):
        raise StoreError(f"{rel}: not valid YAML; {_yaml_fix(rel)}.") from None
    if not isinstance(data, dict):
        raise StoreError(f"{rel}: expected a mapping of keys at the top level.")
    return validate_data(model, data, rel)


def validate_data(model: type[M], data: dict[str, Any], rel: str) -> M:
    """Validate data parsed from `rel`; errors as `parse_model`'s (never values)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        if model is Policy:
            problems = describe_policy_problems(exc)
            more = len(problems) - 1
            extra = f" ({more} more: 'cbtrack validate' lists them all)" if more else ""
            raise StoreError(f"{rel}: {problems[0]}{extra}.") from None
        names_ok = model is not Callback
        raise StoreError(f"{rel}: {describe_validation(exc, names_ok)}.") from None
