#!/usr/bin/env python3
"""List functions longer than a limit (default 100 lines) in crates/*/src, outside tests.

A function's length counts from its `fn` line to its closing brace. Code under `#[cfg(test)]`
modules and files under tests/ or benches/ is not counted. Exit 1 when any function is over.

    python3 scripts/long-fns.py [--max N] [PATH ...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FN_RE = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?(?:extern\s+\"[^\"]*\"\s+)?fn\s+(\w+)")


def blank_strings_and_comments(text: str) -> str:
    """Replace comments and string/char literals with spaces, keeping newlines and offsets."""
    out = list(text)
    i, n = 0, len(text)

    def blank(a: int, b: int) -> None:
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            blank(i, j)
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'r(#*)"', text[i:])
            end = text.find('"' + m.group(1), i + len(m.group(0)))
            end = n if end < 0 else end + 1 + len(m.group(1))
            blank(i, end)
            i = end
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            blank(i, j + 1)
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:]):
            m = re.match(r"'(\\.|[^\\'])'", text[i:])
            blank(i, i + len(m.group(0)))
            i += len(m.group(0))
        elif c == "'" and re.match(r"'\\u\{[0-9a-fA-F]+\}'", text[i:]):
            m = re.match(r"'\\u\{[0-9a-fA-F]+\}'", text[i:])
            blank(i, i + len(m.group(0)))
            i += len(m.group(0))
        else:
            i += 1
    return "".join(out)


def test_ranges(clean: str) -> list[tuple[int, int]]:
    ranges = []
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{", clean):
        depth, j = 1, m.end()
        while j < len(clean) and depth:
            depth += clean[j] == "{"
            depth -= clean[j] == "}"
            j += 1
        ranges.append((m.start(), j))
    return ranges


def long_fns(path: Path, limit: int):
    text = path.read_text(encoding="utf-8")
    clean = blank_strings_and_comments(text)
    tests = test_ranges(clean)
    lines = clean.splitlines(keepends=True)
    offsets, pos = [], 0
    for line in lines:
        offsets.append(pos)
        pos += len(line)
    for no, line in enumerate(lines):
        m = FN_RE.match(line)
        if not m:
            continue
        start = offsets[no]
        if any(a <= start < b for a, b in tests):
            continue
        # The body starts at the first `{` after the signature (a `;` first: a declaration).
        j = start + m.end()
        depth_paren = 0
        while j < len(clean):
            ch = clean[j]
            if ch in "([":
                depth_paren += 1
            elif ch in ")]":
                depth_paren -= 1
            elif ch == ";" and depth_paren == 0:
                j = -1
                break
            elif ch == "{" and depth_paren == 0:
                break
            j += 1
        if j < 0 or j >= len(clean):
            continue
        depth, k = 1, j + 1
        while k < len(clean) and depth:
            depth += clean[k] == "{"
            depth -= clean[k] == "}"
            k += 1
        end_line = clean.count("\n", 0, k) + 1
        length = end_line - no
        if length > limit:
            yield no + 1, m.group(1), length


def main() -> int:
    args = sys.argv[1:]
    limit = 100
    if "--max" in args:
        i = args.index("--max")
        limit = int(args[i + 1])
        del args[i : i + 2]
    roots = [Path(a) for a in args] or sorted((ROOT / "crates").glob("*/src"))
    found = 0
    for root in roots:
        files = [root] if root.is_file() else sorted(root.rglob("*.rs"))
        for f in files:
            for line, fn, length in long_fns(f, limit):
                found += 1
                rel = f.resolve().relative_to(ROOT)
                print(f"{rel}:{line}: fn {fn} is {length} lines (limit {limit})")
    if found:
        print(f"long-fns: {found} function(s) over {limit} lines; split them into named steps", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
