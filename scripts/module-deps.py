#!/usr/bin/env python3
"""Print each crate's internal module dependencies and fail on an import circle.

A module is one source file of a crate (`src/a/b.rs` or `src/a/b/mod.rs` is `a::b`). Module A
depends on module B when A's code names an item of B through a path: `use crate::b::…`,
`crate::b::x(…)`, `super::…`, `self::…`. Declaring a child (`mod b;`) and re-exporting a child's
items from its parent (`pub use b::X;` in the parent) are not dependencies: they are how a parent
presents its children. A circle is a strongly connected set of two or more modules; any circle
fails the run (exit 1) and is printed with one edge of each step and the line that makes it.

    python3 scripts/module-deps.py [--quiet] [CRATE_DIR ...]   # default: crates/*
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def modules_of(src: Path) -> dict[tuple[str, ...], Path]:
    """Every module file under src, keyed by its path from the crate root."""
    mods: dict[tuple[str, ...], Path] = {}
    for dirpath, _dirs, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            p = Path(dirpath) / f
            rel = p.relative_to(src).with_suffix("")
            parts = tuple(rel.parts)
            if parts[-1] == "mod":
                parts = parts[:-1]
            if parts in ((("lib",)), ("main",)):
                parts = ()
            elif len(parts) >= 1 and parts[0] == "bin":
                continue  # binaries are crates of their own
            mods[parts] = p
    return mods


def strip_comments_and_strings(text: str) -> str:
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    return text


def strip_tests(text: str) -> str:
    """Drop `#[cfg(test)] mod … { … }` blocks: test modules may reach anywhere."""
    out = []
    i = 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub\s+)?mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth = 1
        j = m.end()
        while j < len(text) and depth:
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


USE_RE = re.compile(r"\buse\s+([^;]+);", re.S)
PATH_RE = re.compile(r"\b(crate|super|self)((?:\s*::\s*(?:super|\w+))+)")


def expand_use(tree: str) -> list[str]:
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    tree = re.sub(r"\bas\w+", "", tree)

    def go(prefix: str, s: str) -> list[str]:
        if "{" not in s:
            return [prefix + s]
        head, rest = s.split("{", 1)
        body = rest[: rest.rfind("}")]
        parts, depth, cur = [], 0, ""
        for ch in body:
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
                continue
            depth += ch == "{"
            depth -= ch == "}"
            cur += ch
        if cur:
            parts.append(cur)
        out = []
        for p in parts:
            out += go(prefix + head, p)
        return out

    return go("", tree)


def resolve(here: tuple[str, ...], path: list[str], mods) -> tuple[str, ...] | None:
    """The module a `crate::/super::/self::` path lands in (the longest module prefix)."""
    if not path:
        return None
    is_mod_rs = mods.get(here, Path("x")).name in ("mod.rs", "lib.rs", "main.rs")
    # A file `a/b.rs` is module a::b; `super` of it is a. In `a/mod.rs` (module a) too.
    if path[0] == "crate":
        base: list[str] = []
    elif path[0] == "self":
        base = list(here)
    else:
        base = list(here)
        for seg in path:
            if seg != "super":
                break
            if base:
                base.pop()
        path = [p for p in path if p != "super"]
        path = ["super"] + path
    rest = path[1:]
    del is_mod_rs
    best = None
    cand = list(base)
    if tuple(cand) in mods:
        best = tuple(cand)
    for seg in rest:
        cand.append(seg)
        if tuple(cand) in mods:
            best = tuple(cand)
        else:
            break
    return best


def crate_graph(crate: Path):
    src = crate / "src"
    mods = modules_of(src)
    edges: dict[tuple, dict[tuple, str]] = {m: {} for m in mods}
    for m, f in mods.items():
        raw = f.read_text(encoding="utf-8")
        text = strip_tests(strip_comments_and_strings(raw))
        lines = raw.splitlines()

        def where(snippet: str) -> str:
            key = snippet.split("::")[-1][:40]
            for n, line in enumerate(lines, 1):
                if key and key in line and not line.lstrip().startswith("//"):
                    return f"{f.relative_to(ROOT)}:{n}"
            return str(f.relative_to(ROOT))

        paths: list[tuple[str, bool]] = []
        for u in USE_RE.finditer(text):
            stmt_start = text.rfind("\n", 0, u.start()) + 1
            is_pub = text[stmt_start : u.start()].strip().startswith("pub")
            for p in expand_use(u.group(1)):
                paths.append((p, is_pub))
        for p in PATH_RE.finditer(text):
            paths.append((p.group(1) + re.sub(r"\s+", "", p.group(2)), False))
        for p, is_pub in paths:
            segs = [s for s in p.split("::") if s]
            if not segs or segs[0] not in ("crate", "super", "self"):
                continue
            target = resolve(m, segs, mods)
            if target is None or target == m:
                continue
            # A parent re-exporting (or naming) its own descendants presents them: not a use.
            if target[: len(m)] == m and len(target) > len(m):
                if is_pub or segs[0] == "self" or segs[0] == "crate":
                    continue
            # A child naming its ancestor's items that are not modules is a real use.
            edges[m].setdefault(target, where(p))
    return mods, edges


def sccs(nodes, edges):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]
    sys.setrecursionlimit(10000)

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    for v in nodes:
        if v not in index:
            strong(v)
    return [c for c in out if len(c) > 1]


def name(m: tuple) -> str:
    return "::".join(m) if m else "(root)"


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    quiet = "--quiet" in sys.argv
    crates = [Path(a).resolve() for a in args] or sorted(p for p in (ROOT / "crates").iterdir() if (p / "src").is_dir())
    failed = False
    for crate in crates:
        mods, edges = crate_graph(crate)
        if not quiet:
            print(f"{crate.name}:")
            for m in sorted(mods):
                deps = sorted(name(t) for t in edges[m])
                print(f"  {name(m)} -> {', '.join(deps) if deps else '-'}")
        for comp in sccs(list(mods), edges):
            failed = True
            members = set(comp)
            print(f"CIRCLE in {crate.name}: {', '.join(sorted(name(c) for c in comp))}", file=sys.stderr)
            for a in sorted(comp):
                for b, at in sorted(edges[a].items()):
                    if b in members:
                        print(f"    {name(a)} -> {name(b)}  ({at})", file=sys.stderr)
    if failed:
        print("module-deps: import circles found; break them with a leaf module both sides can use", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
