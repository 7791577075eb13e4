#!/usr/bin/env python3
"""Fails when a workspace crate breaks the dependency rule (SPEC §1.2).

Layers, each crate depending only on crates to its left:
  core-config <- models <- repositories <- services <- integrations <- agents <- tasks <- api <- gateway

Also fails when actix-web, reqwest or async-openai is reachable (normal dependencies, transitively)
from `services` or any layer below it.

Usage: check_layering.py                 # runs `cargo metadata` on this workspace
       check_layering.py --metadata F    # checks a saved `cargo metadata --format-version 1` output
       check_layering.py --self-test     # proves the check fails on deliberately wrong graphs
"""

import json
import subprocess
import sys

LAYERS = [
    "core-config",
    "models",
    "repositories",
    "services",
    "integrations",
    "agents",
    "tasks",
    "api",
    "gateway",
]
# Crates that are not layers: the black-box test crate may depend on anything.
UNLAYERED = {"system-tests"}
FORBIDDEN_LOW = {"actix-web", "reqwest", "async-openai"}
LOW_LAYERS = LAYERS[: LAYERS.index("services") + 1]


def check(metadata):
    """Returns a list of violations (strings) for a cargo metadata document."""
    packages = {p["id"]: p for p in metadata["packages"]}
    members = set(metadata["workspace_members"])
    name_of = {pid: packages[pid]["name"] for pid in packages}
    problems = []

    member_names = {name_of[m] for m in members}
    for name in sorted(member_names - set(LAYERS) - UNLAYERED):
        problems.append(f"{name}: not a known layer; add it to LAYERS in scripts/check_layering.py")

    nodes = {n["id"]: n for n in metadata["resolve"]["nodes"]}

    def normal_deps(pid):
        for dep in nodes[pid]["deps"]:
            kinds = [k.get("kind") for k in dep.get("dep_kinds", [])]
            if not kinds or None in kinds:
                yield dep["pkg"]

    # Direct dependencies between workspace crates must point left.
    for m in members:
        name = name_of[m]
        if name not in LAYERS:
            continue
        rank = LAYERS.index(name)
        for dep in normal_deps(m):
            dep_name = name_of[dep]
            if dep in members and dep_name in LAYERS and LAYERS.index(dep_name) >= rank:
                problems.append(f"{name} depends on {dep_name}, which is not to its left")

    # Heavy HTTP crates must not be reachable from services or below.
    for m in members:
        name = name_of[m]
        if name not in LOW_LAYERS:
            continue
        seen, stack = set(), [m]
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            stack.extend(normal_deps(pid))
        for pid in sorted(seen):
            if name_of[pid] in FORBIDDEN_LOW:
                problems.append(f"{name} reaches {name_of[pid]} (forbidden in services and below)")
    return problems


def self_test():
    def pkg(name):
        return {"id": name, "name": name}

    def node(name, deps):
        return {"id": name, "deps": [{"pkg": d, "dep_kinds": [{"kind": None}]} for d in deps]}

    def graph(edges, extra=()):
        names = sorted(set(edges) | {d for ds in edges.values() for d in ds} | set(extra))
        members = [n for n in names if n in LAYERS]
        return {
            "packages": [pkg(n) for n in names],
            "workspace_members": members,
            "resolve": {"nodes": [node(n, edges.get(n, [])) for n in names]},
        }

    good = graph({"models": ["core-config"], "services": ["repositories"], "repositories": ["models"], "api": ["services", "actix-web"]})
    assert check(good) == [], check(good)
    upward = graph({"models": ["api"], "api": []})
    assert any("models depends on api" in p for p in check(upward)), check(upward)
    leak = graph({"services": ["helper"], "helper": ["reqwest"]})
    assert any("services reaches reqwest" in p for p in check(leak)), check(leak)
    dev_only = graph({})
    dev_only["packages"].append(pkg("services"))
    dev_only["workspace_members"].append("services")
    dev_only["packages"].append(pkg("actix-web"))
    dev_only["resolve"]["nodes"] = [
        {"id": "services", "deps": [{"pkg": "actix-web", "dep_kinds": [{"kind": "dev"}]}]},
        {"id": "actix-web", "deps": []},
    ]
    assert check(dev_only) == [], "dev-dependencies do not count"
    print("layering self-test: the check fails on an upward dependency and on a leaked HTTP crate")


def main(argv):
    if "--self-test" in argv:
        self_test()
        return 0
    if "--metadata" in argv:
        with open(argv[argv.index("--metadata") + 1]) as f:
            metadata = json.load(f)
    else:
        out = subprocess.run(
            ["cargo", "metadata", "--format-version", "1"],
            check=True,
            capture_output=True,
            text=True,
        )
        metadata = json.loads(out.stdout)
    problems = check(metadata)
    if problems:
        print("layering check FAILED:")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("layering check passed: every crate depends only on layers to its left; no HTTP crates under services")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
