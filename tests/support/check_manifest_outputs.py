#!/usr/bin/env python3
"""RELIABILITY S5: every output a manifest.json lists is in its folder with the SHA-256, size and line count
the manifest gives. Usage: check_manifest_outputs.py MANIFEST EXPECTED_FILE... (exit 1 with the reason)."""
import hashlib
import json
import os
import sys

manifest = sys.argv[1]
folder = os.path.dirname(manifest)
listed = json.load(open(manifest))["outputs"]
names = [o["file"] for o in listed]
problems = []
missing = set(sys.argv[2:]) - set(names)
if missing:
    problems.append(f"not listed: {sorted(missing)}")
for o in listed:
    data = open(os.path.join(folder, o["file"]), "rb").read()
    if hashlib.sha256(data).hexdigest() != o["sha256"]:
        problems.append(f"{o['file']}: sha256 differs")
    if len(data) != o["bytes"]:
        problems.append(f"{o['file']}: {len(data)} bytes, manifest says {o['bytes']}")
    lines = data.count(b"\n")
    if lines != o["lines"]:
        problems.append(f"{o['file']}: {lines} lines, manifest says {o['lines']}")
if problems:
    print("; ".join(problems))
    sys.exit(1)
