"""Fuzzing the three ways input gets in: the request model, the CLI and the config loader.

Hypothesis generates bodies and files (mutations of the seed bodies, wrong types, huge
numbers, NaN/Infinity, odd Unicode, deep nesting, oversized strings, broken bytes). For
each one: no traceback, and either it is valid (and then it round-trips and can be stored)
or the error names the field (a path that exists in the body, near the mutated field),
the CLI exits 2 with `error:` on stderr, and the database is exactly as before.

Short run: ~500 examples per suite. Full (`--full`): 10,000 per suite.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from reliability_report import report

from exporter_tui.cli.main import main
from exporter_tui.config import ConfigError, Settings, load_settings
from exporter_tui.core.errors import RequestInvalid, json_path
from exporter_tui.core.models import ExportRequest
from exporter_tui.core.validation import parse_request

pytestmark = pytest.mark.slow  # hundreds of generated inputs

Loc = tuple[str | int, ...]
FIELD_LIMIT = 20_000  # characters of a generated oversized string (the 10 MB body cap has its own test)


def examples(full: bool) -> int:
    return 10_000 if full else 500


def fuzz_settings(n: int):
    # No example database: the repository gets no .hypothesis folder, and each run explores anew.
    return settings(max_examples=n, deadline=None, database=None, derandomize=False, suppress_health_check=list(HealthCheck))


# --- bodies --------------------------------------------------------------------------------


def _valid_latest() -> dict[str, Any]:
    """The latest seed repaired (its columns id and csvDelimiter are placeholders), so its mutations tell."""
    body = json.loads((FIXTURES / "connhex-latest-example.json").read_text())
    body["format"]["columns"] = [{"id": "value", "label": "reading"}, {"id": "time", "label": "when"}]
    body["format"]["csvDelimiter"] = ";"
    return body


ONE_TIME: dict[str, Any] = {
    "name": "one-off",
    "type": "oneTime",
    "format": {"extension": "xlsx", "timezone": "Europe/Rome", "dateFormat": "LL", "filename": "report"},
    "items": [
        {
            "params": {
                "target": {"value": "urn:a,urn:b", "label": "A,B"},
                "channelId": "ch-1",
                "subtopic": "s",
                "from": 1_700_000_000,
                "to": 1_700_086_400,
            }
        },
        {
            "params": {
                "target": {"value": "urn:c"},
                "channelId": "ch-1",
                "subtopic": "s",
                "period": "P1D",
                "decimation": {"ds": "1h", "dsf": "max"},
            },
            "filename": "second",
        },
    ],
    "notification": {
        "messages": [
            {"policy": "onFailure", "medium": "slack", "target": "ops", "title": "{status}", "text": "{error}"},
            {"policy": "onSuccess", "medium": "telegram", "title": "t", "text": "{rows} rows"},
        ]
    },
}

SEEDS: dict[str, dict[str, Any]] = {
    "1.1": json.loads((FIXTURES / "connhex-1.1-example.json").read_text()),
    "latest-as-is": json.loads((FIXTURES / "connhex-latest-example.json").read_text()),
    "latest-repaired": _valid_latest(),
    "oneTime": ONE_TIME,
}


def _is_valid(body: Any) -> bool:
    try:
        parse_request(body)
    except RequestInvalid:
        return False
    return True


VALID_SEEDS = {name for name, body in SEEDS.items() if _is_valid(body)}


def _field_names(model: type[BaseModel], seen: set[type] | None = None) -> set[str]:
    """Every wire name of the request model, so an error about a missing field can be checked."""
    seen = seen or set()
    seen.add(model)
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(info.alias or name)
        for arg in _types_in(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in seen:
                names |= _field_names(arg, seen)
    return names


def _types_in(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        yield from _types_in(arg)


FIELD_NAMES = _field_names(ExportRequest)

ODD_CHARS = [
    "\ud800",
    "\udfff",
    "\udc00",  # lone surrogates
    "\u202e",
    "\u200f",
    "\u061c",  # right-to-left marks
    "\u200b",
    "\u200d",
    "\ufeff",
    "\u2060",  # zero-width
    "\x00",
    "\n",
    "\r",
    "\t",
    "\x1b",
    "\x7f",
    "\u2028",
    "\u0085",  # control and line breaks
    "😀",
    "👨\u200d👩\u200d👧",
    "e\u0301",
    "\U0010ffff",
    "ﷺ",
    "İ",
    "/",
    "\\",
    "..",
    ":",
    "*",
    "?",
    "<",
    ">",
    "|",
    "'",
    '"',
    "=",
    "+",
    "-",
    "@",
    "{",
    "}",
    "{x}",
    "%s",
    "CON",
    "nul",
    "LPT1",
    "../../etc/passwd",
    "C:\\Windows",
    ";DROP TABLE requests;--",
]
odd_text = st.lists(st.one_of(st.sampled_from(ODD_CHARS), st.characters()), max_size=30).map("".join)
oversized = st.sampled_from([201, 257, 513, 1025, 4097, 16_385, FIELD_LIMIT]).flatmap(
    lambda n: st.sampled_from(["x", "é", "😀", "\u200b"]).map(lambda c: c * n)
)
numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, 1, -1, 2**53 + 1, 2**63, 10**400, -(10**400), 7_258_118_400, 7_258_118_401, 1_700_000_000_000]),
    st.floats(),  # NaN, infinities, -0.0, subnormals
)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


scalars = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    odd_text,
    oversized,
    st.sampled_from(["", " ", "0", "true", "null", "NaN", "2024-02-30T00:00:00Z", "P1D", "PT0S", "P1000Y", "15m", "utc"]),
)
nasty = st.one_of(
    scalars,
    st.integers(min_value=20, max_value=400).map(nested),
    st.recursive(
        scalars,
        lambda kids: st.one_of(
            st.lists(kids, max_size=4), st.dictionaries(st.one_of(odd_text, st.sampled_from(sorted(FIELD_NAMES))), kids, max_size=4)
        ),
        max_leaves=8,
    ),
)


def locations(node: Any, loc: Loc = ()) -> list[Loc]:
    out = [loc]
    if isinstance(node, dict):
        for k, v in node.items():
            out += locations(v, (*loc, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += locations(v, (*loc, i))
    return out


def get_at(body: Any, loc: Loc) -> Any:
    for part in loc:
        body = body[part]
    return body


def set_at(body: Any, loc: Loc, value: Any) -> Any:
    if not loc:
        return value
    get_at(body, loc[:-1])[loc[-1]] = value
    return body


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, Any, list[Loc]]:
    """(seed name, body, the locations mutated): one to three mutations of a seed body."""
    name = draw(st.sampled_from(sorted(SEEDS)))
    body: Any = copy.deepcopy(SEEDS[name])
    touched: list[Loc] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        if not isinstance(body, (dict, list)):
            break
        loc = draw(st.sampled_from(locations(body)))
        current = get_at(body, loc)
        op = draw(st.sampled_from(["replace", "replace", "delete", "add_key", "wrap", "tweak"]))
        if op == "delete" and loc:
            parent = get_at(body, loc[:-1])
            del parent[loc[-1]]
            touched.append(loc[:-1] if isinstance(parent, list) else loc)
            continue
        if op == "add_key" and isinstance(current, dict):
            key = draw(st.one_of(odd_text, st.sampled_from(sorted(FIELD_NAMES))))
            current[key] = draw(nasty)
            touched.append((*loc, key))
            continue
        if op == "wrap":
            body = set_at(body, loc, draw(st.sampled_from([[current], {"value": current}])))
        elif op == "tweak" and isinstance(current, str):
            body = set_at(
                body,
                loc,
                draw(
                    st.sampled_from(
                        [
                            lambda s: s + draw(odd_text),
                            lambda s: draw(odd_text) + s,
                            lambda s: "../" + s,
                            lambda s: "/" + s,
                            lambda s: s * 300,
                            lambda s: s.upper(),
                            lambda s: "",
                            lambda s: " " + s + " ",
                            lambda s: "=" + s,
                        ]
                    )
                )(current),
            )
        elif op == "tweak" and isinstance(current, (int, float)) and not isinstance(current, bool):
            body = set_at(
                body,
                loc,
                draw(
                    st.sampled_from(
                        [
                            current * 1000,
                            -current,
                            current * 3 // 2 if isinstance(current, int) else current * 1.5,
                            math.nan,
                            math.inf,
                            str(current),
                        ]
                    )
                ),
            )
        else:
            body = set_at(body, loc, draw(nasty))
        touched.append(loc)
    return name, body, touched


def check_errors(body: Any, errors: list[dict[str, str]], touched: list[Loc], seed: str) -> None:
    """Every error names a field that exists in the body (or a missing field of an object in
    it); after one mutation of a valid seed, some error is about the mutated field or its
    neighbours."""
    assert errors, "an invalid body must name at least one field"
    paths = {json_path(tuple(_printable(p) if isinstance(p, str) else p for p in loc)) for loc in locations(body)}
    objects = {json_path(loc) for loc in locations(body) if isinstance(get_at(body, loc), dict)}
    for e in errors:
        assert set(e) == {"path", "reason"} and isinstance(e["reason"], str) and e["reason"], e
        e["path"].encode("utf-8")  # printable: no lone surrogate
        e["reason"].encode("utf-8")
        missing_field = any(e["path"] == (f"{o}.{f}" if o else f) for o in objects for f in FIELD_NAMES)
        assert e["path"] in paths or missing_field, f"error names no field of the body: {e}"
    if seed in VALID_SEEDS and len(touched) == 1:
        near = _neighbourhood(touched[0])
        assert any(e["path"].startswith(near) for e in errors), f"no error near {json_path(touched[0])!r}: {errors}"


def _neighbourhood(loc: Loc) -> str:
    """The object holding the mutated field, above any list it is an element of: cross-field
    rules (from/to, duplicate column ids, one label per target) report a sibling."""
    parent = list(loc[:-1])
    while parent and isinstance(parent[-1], int):
        parent.pop()
    return json_path(tuple(_printable(p) if isinstance(p, str) else p for p in parent))


def _printable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# --- the request model ---------------------------------------------------------------------


def test_fuzz_request_model(full_size: bool) -> None:
    tally = {"bodies": 0, "valid": 0, "invalid": 0, "tracebacks": 0}

    @fuzz_settings(examples(full_size))
    @given(mutated())
    def check(case: tuple[str, Any, list[Loc]]) -> None:
        seed, body, touched = case
        tally["bodies"] += 1
        try:
            request = parse_request(body)
        except RequestInvalid as e:
            tally["invalid"] += 1
            check_errors(body, e.body()["validationErrors"], touched, seed)
            return
        except Exception:
            tally["tracebacks"] += 1
            raise
        tally["valid"] += 1
        wire = request.to_body()
        json.dumps(wire, ensure_ascii=False).encode("utf-8")  # storable and printable
        assert parse_request(copy.deepcopy(wire)).to_body() == wire  # what is stored reads back the same

    check()
    report("fuzz-model", full=full_size, **tally)
    assert tally["tracebacks"] == 0 and tally["invalid"] > tally["bodies"] // 2


# --- the CLI -------------------------------------------------------------------------------


def body_bytes(draw: st.DrawFn) -> bytes:
    """A body file: a mutated body as JSON (maybe with NaN/Infinity, raw or escaped Unicode), or broken bytes."""
    kind = draw(st.sampled_from(["json", "json", "json", "raw"]))
    _, body, _ = draw(mutated())
    try:
        text = json.dumps(body, ensure_ascii=draw(st.booleans()), allow_nan=True)
    except (RecursionError, ValueError):
        text = "[" * 5000 + "]" * 5000
    data = text.encode("utf-8", "surrogatepass")  # a raw lone surrogate is not UTF-8: refused as such
    if kind == "json":
        return data
    cut = draw(st.integers(min_value=0, max_value=len(data)))
    return draw(
        st.sampled_from(
            [
                data[:cut],
                data[:cut] + draw(st.binary(min_size=1, max_size=8)) + data[cut:],
                b"\xef\xbb\xbf" + data,
                b"\xff\xfe" + data,
                b"",
                b"{" * 100_000,
                b'{"type": ' + b"9" * 5000 + b"}",
                b'{"type": 1e99999}',
                b'{"a": ' * 3000 + b"1" + b"}" * 3000,
                data.replace(b'"', b"'"),
                data + b",",
            ]
        )
    )


def request_type(db: Path, request_id: str) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT type FROM requests WHERE id = ?", (request_id,)).fetchone()[0]
    finally:
        con.close()


def db_state(db: Path) -> tuple:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return tuple(
            con.execute(
                "SELECT (SELECT count(*) FROM requests), (SELECT total(length(body)) FROM requests), (SELECT max(updated_at) FROM requests),"
                " (SELECT count(*) FROM runs), (SELECT count(*) FROM audit)"
            ).fetchone()
        )
    finally:
        con.close()


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """main() in this process, with stdout as strict UTF-8 (as a real terminal or pipe) so a
    surrogate that reached the output would fail here as it would for a user."""
    out, err = io.BytesIO(), io.BytesIO()
    out_text = io.TextIOWrapper(out, encoding="utf-8", errors="strict")
    err_text = io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace")
    with contextlib.redirect_stdout(out_text), contextlib.redirect_stderr(err_text):
        code = main(args)
    out_text.flush()
    err_text.flush()
    return code, out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8")


def test_fuzz_cli_bodies(tmp_path: Path, full_size: bool) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text('[identity]\nuser = "fuzzer"\n[limits]\nmax_queued_runs = 1000000\n')
    (home / "config.toml").chmod(0o600)
    seed_file = tmp_path / "seed.json"
    seed_file.write_text(json.dumps(SEEDS["1.1"]))
    code, out, _ = run_cli(["--home", str(home), "requests", "create", str(seed_file), "--json"])
    assert code == 0
    existing = json.loads(out)["id"]
    db = home / "exporter.db"
    body_file = tmp_path / "body.json"
    tally = {"bodies": 0, "refused": 0, "stored": 0, "tracebacks": 0, "changed_on_refusal": 0}

    @fuzz_settings(examples(full_size))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        raw = body_bytes(data.draw)
        body_file.write_bytes(raw)
        command = data.draw(st.sampled_from([["requests", "create"], ["validate"], ["requests", "update", existing]]))
        as_json = data.draw(st.booleans())
        before = db_state(db)
        type_before = request_type(db, existing)
        tally["bodies"] += 1
        try:
            code, out, err = run_cli(["--home", str(home), *command, str(body_file), *(["--json"] if as_json else [])])
        except BaseException:
            tally["tracebacks"] += 1
            raise
        after = db_state(db)
        expected = _expected_validity(raw)
        if code == 2:
            tally["refused"] += 1
            if after != before:
                tally["changed_on_refusal"] += 1
            assert after == before, "a refused body changed the database"
            assert err.startswith("error: ") and "\n  " in err, err[:500]
            if as_json:
                errors = json.loads(out)["validationErrors"]
                assert errors and all(set(e) == {"path", "reason"} for e in errors)
                for e in errors:
                    assert f"{e['path'] or '(body)'}: {e['reason']}" in err
            else:
                assert out == ""
            assert expected is not True, f"a valid body was refused: {err[:300]}"
        else:
            assert code == 0, (code, err[:500])
            assert expected is not False, "an invalid body was accepted"
            if command[-1] == "create":
                tally["stored"] += 1
                assert after[0] == before[0] + 1
            elif command[0] == "validate":
                assert after == before
            else:
                queued = int(type_before == "recurring" and request_type(db, existing) == "oneTime")  # its oneTime run is queued
                assert after[0] == before[0] and after[3] == before[3] + queued and after[4] == before[4] + 1  # replaced in place, audited

    check()
    report("fuzz-cli", full=full_size, **tally)
    assert tally["tracebacks"] == 0 and tally["changed_on_refusal"] == 0 and tally["refused"] > tally["bodies"] // 2


def _expected_validity(raw: bytes) -> bool | None:
    """What the model says of a body that is plain JSON; None when the bytes themselves are the question."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if raw.startswith(b"\xef\xbb\xbf"):
        return None
    return _is_valid(data)


def _no_constants(name: str) -> Any:
    raise ValueError(name)


def test_a_body_over_the_size_cap_is_refused_unread(cli, tmp_path: Path, home: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b'{"name": "' + b"x" * 10_000_001 + b'"}')
    r = cli("requests", "create", str(big), "--json")
    assert r.code == 2 and r.json()["validationErrors"] == [{"path": "", "reason": "the body is larger than 10000000 bytes"}]
    assert cli("requests", "list", "--json").json()["total"] == 0


def test_lone_surrogates_and_bare_booleans_are_named(cli, tmp_path: Path) -> None:
    body = copy.deepcopy(SEEDS["oneTime"])
    body["name"] = "\ud83d"
    body["items"][0]["params"]["from"] = True
    body["format"]["\udc00x"] = 1
    f = tmp_path / "b.json"
    f.write_text(json.dumps(body))  # ensure_ascii: the surrogates travel as \u escapes
    r = cli("requests", "create", str(f), "--json")
    assert r.code == 2
    assert r.json()["validationErrors"] == [
        {"path": "format.\\udc00x", "reason": "the field name is not valid Unicode (a lone surrogate)"},
        {"path": "name", "reason": "is not valid Unicode text (a lone surrogate)"},
    ]
    del body["format"]["\udc00x"]
    body["name"] = "ok"
    f.write_text(json.dumps(body))
    r = cli("requests", "create", str(f), "--json")
    assert r.code == 2 and r.json()["validationErrors"] == [
        {"path": "items[0].params.from", "reason": "must be a number of Unix seconds, not true or false"}
    ]


# --- the config loader ---------------------------------------------------------------------


def _toml_key(key: str) -> str:
    return key if key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes are TOML's; a surrogate escape is not valid TOML (the loader must say so).
    return json.dumps(text, ensure_ascii=False)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf else repr(value))
    if isinstance(value, str):
        return _toml_string(value)
    if value is None:
        return '""'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml_key(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    """Scalars first, then one [table] per nested dict (recursively, dotted names)."""
    lines: list[str] = []

    def emit(table: dict[str, Any], prefix: str) -> None:
        subs = []
        for k, v in table.items():
            if isinstance(v, dict) and v and all(isinstance(x, str) for x in v):
                subs.append((k, v))
            else:
                lines.append(f"{_toml_key(str(k))} = {toml_value(v)}")
        for k, v in subs:
            name = f"{prefix}.{_toml_key(k)}" if prefix else _toml_key(k)
            lines.append(f"\n[{name}]")
            emit(v, name)

    emit(data, "")
    return "\n".join(lines) + "\n"


BASE_CONFIG: dict[str, Any] = Settings.model_validate(
    {
        "identity": {"user": "fuzzer"},
        "notify": {"slack": {"webhooks": {"ops": "http://127.0.0.1:1/hook"}}},
    }
).model_dump()
BASE_CONFIG["exports"].pop("dir")  # the CLI part makes folders: keep the exports where the home is
toml_scalars = st.one_of(
    st.booleans(),
    numbers,
    odd_text.filter(lambda s: "\ud800" not in s),
    oversized,
    st.sampled_from(["", "P1D", "P-1D", "x", "0o777", "utc", "latest", "readers", "ssl"]),
)
toml_nasty = st.one_of(
    toml_scalars,
    st.recursive(
        toml_scalars,
        lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(st.text(max_size=8), kids, max_size=3)),
        max_leaves=6,
    ),
)


@st.composite
def config_file(draw: st.DrawFn) -> tuple[bytes, Loc | None]:
    """(file bytes, the setting mutated, or None for damage to the text itself)."""
    data = copy.deepcopy(BASE_CONFIG)
    locs = [loc for loc in locations(data) if loc]
    loc = draw(st.sampled_from(locs))
    op = draw(st.sampled_from(["replace", "replace", "delete", "add_key", "text"]))
    if op == "delete":
        del get_at(data, loc[:-1])[loc[-1]]
    elif op == "add_key":
        holder = loc if isinstance(get_at(data, loc), dict) else loc[:-1]
        key = draw(st.text(min_size=1, max_size=10))
        get_at(data, holder)[key] = draw(toml_nasty)
        loc = (*holder, key)
    elif op == "replace":
        set_at(data, loc, draw(toml_nasty))
    text = to_toml(data).encode("utf-8", "surrogatepass")
    if op != "text":
        return text, loc
    cut = draw(st.integers(min_value=0, max_value=len(text)))
    damaged = draw(
        st.sampled_from(
            [
                text[:cut],
                text[:cut] + draw(st.binary(min_size=1, max_size=6)) + text[cut:],
                text + text,
                b"a = " + b"[" * 3000 + b"]" * 3000,
                b"a = " + b"{b = " * 2000 + b"1" + b"}" * 2000,
                b'x = "\\ud800"',
                b"\xff\xfe\x00",
                text.replace(b"=", b":", 1),
                text.replace(b"\n[", b"\n[[", 1),
            ]
        )
    )
    return damaged, None


def test_fuzz_config_loader(tmp_path: Path, full_size: bool) -> None:
    config = tmp_path / "config.toml"
    config.write_bytes(b"")
    config.chmod(0o600)  # no warning about a readable config in the way of the error lines
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    tally = {"files": 0, "refused": 0, "loaded": 0, "tracebacks": 0, "cli_checked": 0}
    known = {json_path(loc) for loc in locations(Settings().model_dump())}

    @fuzz_settings(examples(full_size))
    @given(config_file(), st.integers(min_value=0, max_value=9))
    def check(case: tuple[bytes, Loc | None], sample: int) -> None:
        raw, loc = case
        config.write_bytes(raw)
        tally["files"] += 1
        try:
            load_settings(config, environ={})
        except ConfigError as e:
            tally["refused"] += 1
            assert e.errors and all(isinstance(p, str) and isinstance(r, str) and r for p, r in e.errors)
            for path, _ in e.errors:
                # a setting, a key the mutation added (unknown setting), the file as a whole, or for
                # damaged text a table or key that the text now holds
                top = path.split(".")[0].encode("utf-8", "surrogatepass")
                assert (
                    path == "(file)"
                    or path in known
                    or (loc is not None and path.startswith(json_path(loc[:1])))
                    or (loc is None and top in raw)
                ), e.errors
            if loc is not None:
                assert any(p == "(file)" or p.startswith(json_path(loc[:2])) for p, _ in e.errors), (loc, e.errors)
            refused = True
        except Exception:
            tally["tracebacks"] += 1
            raise
        else:
            tally["loaded"] += 1
            refused = False
        assert config.read_bytes() == raw  # never rewritten
        if sample == 0:  # one in ten goes through the CLI too
            tally["cli_checked"] += 1
            code, out, err = run_cli(["--home", str(home), "--config", str(config), "requests", "list", "--json"])
            if refused:
                assert code == 2 and err.startswith("error: bad config") and "validationErrors" in json.loads(out)
            else:
                assert code == 0, err
            assert config.read_bytes() == raw

    check()
    report("fuzz-config", full=full_size, **tally)
    assert tally["tracebacks"] == 0 and tally["refused"] > 0 and tally["loaded"] > 0


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("[scheduler]\ntick = inf\n", "scheduler.tick", "Input should be a finite number"),
        ("[notify]\ntimeout = nan\n", "notify.timeout", "Input should be a finite number"),
        ("[exports]\nfile_mode = 4095\n", "exports.file_mode", "must be a permission mode from 0o000 to 0o777 (e.g. 0o640)"),
        ("[scheduler]\nheartbeat_timeout = 1e300\n", "scheduler.heartbeat_timeout", "Input should be less than or equal to 86400"),
        ("a = " + "[" * 3000 + "]" * 3000 + "\n", "(file)", "not usable TOML: arrays or tables nested too deeply"),
    ],
)
def test_config_values_that_would_break_later_are_named_now(tmp_path: Path, text: str, path: str, reason: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_settings(f, environ={})
    assert e.value.errors == [(path, reason)]
