#!/usr/bin/env python3
"""Compile every `locale/<lang>/LC_MESSAGES/*.po` into its `.mo`, in pure Python.

So nobody needs GNU gettext (`msgfmt`) to build, run or test the project: `make messages`
runs this after the .po files are edited. Fuzzy and obsolete (`#~`) entries are left out,
as msgfmt does; the output is byte-for-byte stable, so the committed .mo only changes when a
translation does. `--check` exits with 1 when a committed .mo is out of date.

    python scripts/compile_messages.py [--check] [PO_FILE ...]
"""

import ast
import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class PoError(ValueError):
    pass


def _unquote(text: str, path, lineno: int) -> str:
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoError(f"{path}:{lineno}: expected a quoted string, got {text!r}")
    # PO strings use C escapes, which Python's string literal syntax covers.
    return ast.literal_eval(text)


def parse_po(text: str, path="<po>") -> dict[str, str]:
    """Return {key: translation} as the .mo stores them.

    A key is the msgid, prefixed by `msgctxt` + "\\x04" when there is a context; plural
    entries join the msgid and msgid_plural (and their translations) with NUL.
    """
    catalog: dict[str, str] = {}
    entry: dict[str, str] = {}
    fuzzy = False
    field = None

    def has_msgstr() -> bool:
        return any(k == "msgstr" or k.startswith("msgstr[") for k in entry)

    def finish() -> None:
        nonlocal entry, fuzzy, field
        if "msgid" in entry:
            key = entry["msgid"]
            if "msgid_plural" in entry:
                key += "\0" + entry["msgid_plural"]
                forms = sorted(
                    (int(k[7:-1]), v) for k, v in entry.items() if k.startswith("msgstr[")
                )
                if [i for i, _v in forms] != list(range(len(forms))):
                    raise PoError(f"{path}: plural forms of {entry['msgid']!r} have gaps")
                value = "\0".join(v for _i, v in forms)
                translated = all(v for _i, v in forms) and forms
            else:
                value = entry.get("msgstr", "")
                translated = bool(value)
            if "msgctxt" in entry:
                key = entry["msgctxt"] + "\x04" + key
            if key == "":
                # Like msgfmt: a new extraction date alone must not change the .mo.
                value = "".join(
                    line for line in value.splitlines(keepends=True)
                    if not line.startswith("POT-Creation-Date:")
                )
            # The header (empty msgid) is kept even when marked fuzzy, as msgfmt does.
            if translated and (not fuzzy or key == ""):
                catalog[key] = value
        entry = {}
        fuzzy = False
        field = None

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            finish()
            continue
        if line.startswith("#~"):
            continue
        if line.startswith("#"):
            if has_msgstr():
                finish()
            if line.startswith("#,") and "fuzzy" in [f.strip() for f in line[2:].split(",")]:
                fuzzy = True
            field = None
            continue
        if line.startswith('"'):
            if field is None:
                raise PoError(f"{path}:{lineno}: a string that continues nothing")
            entry[field] += _unquote(line, path, lineno)
            continue
        keyword, _sep, rest = line.partition(" ")
        if not (
            keyword in ("msgctxt", "msgid", "msgid_plural", "msgstr")
            or re.fullmatch(r"msgstr\[\d+\]", keyword)
        ):
            raise PoError(f"{path}:{lineno}: unexpected {raw!r}")
        if keyword in ("msgctxt", "msgid") and has_msgstr():
            finish()
        if keyword in entry:
            raise PoError(f"{path}:{lineno}: {keyword} twice in one entry")
        field = keyword
        entry[field] = _unquote(rest, path, lineno)
    finish()
    return catalog


def build_mo(catalog: dict[str, str]) -> bytes:
    """The GNU .mo format: a header, two tables of (length, offset), then the strings."""
    keys = sorted(catalog, key=lambda k: k.encode("utf-8"))
    ids = b""
    strs = b""
    offsets = []
    for key in keys:
        k = key.encode("utf-8")
        v = catalog[key].encode("utf-8")
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    count = len(keys)
    header_size = 7 * 4
    ids_table = header_size
    strs_table = ids_table + count * 8
    ids_start = strs_table + count * 8
    strs_start = ids_start + len(ids)
    out = [struct.pack("<7I", 0x950412DE, 0, count, ids_table, strs_table, 0, 0)]
    out += [struct.pack("<2I", klen, ids_start + koff) for koff, klen, _, _ in offsets]
    out += [struct.pack("<2I", vlen, strs_start + voff) for _, _, voff, vlen in offsets]
    return b"".join(out) + ids + strs


def compile_file(po: Path) -> bytes:
    return build_mo(parse_po(po.read_text(encoding="utf-8"), po))


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")]
    paths = paths or sorted(ROOT.glob("locale/*/LC_MESSAGES/*.po"))
    stale = []
    for po in paths:
        mo = po.with_suffix(".mo")
        data = compile_file(po)
        if check:
            if not mo.exists() or mo.read_bytes() != data:
                stale.append(mo)
            continue
        if not mo.exists() or mo.read_bytes() != data:
            mo.write_bytes(data)
            print(f"compiled {mo.relative_to(ROOT) if mo.is_relative_to(ROOT) else mo}")
    if stale:
        for mo in stale:
            print(f"out of date: {mo} (run `make messages`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
