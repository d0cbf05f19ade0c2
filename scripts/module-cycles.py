#!/usr/bin/env python3
"""Lists import cycles between the modules of each crate (a module is a file under src/).

A module depends on another when it names it with `crate::…` (in `use` lines or paths) or
`super::…`. Cycles are printed as strongly connected components; none means the module graph
of every crate is a DAG. Exit status 1 when a cycle exists.
"""
import os
import re
import sys

CRATES = ["protocol", "proxy", "server", "console", "testkit"]


def modules(src):
    found = {}
    for dirpath, _, files in os.walk(src):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            found["::".join(rel)] = path
    return found


def strip_tests(text):
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def deps(module, text, known):
    out = set()
    parent = module.rsplit("::", 1)[0] if "::" in module else ""
    for match in re.finditer(r"\b(crate|super)((?:::\w+)+)", text):
        base = "" if match.group(1) == "crate" else parent
        parts = [p for p in match.group(2).split("::") if p]
        # `use crate::{a, b::c}` groups
        best = None
        for i in range(len(parts), 0, -1):
            candidate = "::".join(([base] if base else []) + parts[:i])
            if candidate in known:
                best = candidate
                break
        if best and best != module and not module.startswith(best + "::"):
            out.add(best)
    for match in re.finditer(r"\buse crate::\{([^;]*)\}", text, re.S):
        for item in re.split(r",\s*", match.group(1)):
            head = item.strip().split("::")[0].strip("{} \n")
            if head in known and head != module:
                out.add(head)
    return out


def sccs(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return result


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    cycles = 0
    for crate in CRATES:
        src = os.path.join(root, crate, "src")
        known = modules(src)
        graph = {}
        for module, path in known.items():
            with open(path, encoding="utf-8") as f:
                graph[module] = deps(module, strip_tests(f.read()), known)
        for component in sccs(graph):
            cycles += 1
            print(f"{crate}: " + " <-> ".join(m or "<root>" for m in component))
    if cycles == 0:
        print("no import cycles between modules")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
