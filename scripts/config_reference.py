#!/usr/bin/env python3
"""Replaces the settings table in docs/configuration.md with `steward config reference`'s output.

Usage: scripts/config_reference.py path/to/steward
"""
import subprocess
import sys

doc_path = "docs/configuration.md"
table = subprocess.run([sys.argv[1], "config", "reference"], check=True, capture_output=True, text=True).stdout
lines = open(doc_path).read().split("\n")
start = next(i for i, l in enumerate(lines) if l.startswith("| Key |"))
end = start
while end < len(lines) and lines[end].startswith("|"):
    end += 1
new = lines[:start] + table.rstrip("\n").split("\n") + lines[end:]
open(doc_path, "w").write("\n".join(new))
