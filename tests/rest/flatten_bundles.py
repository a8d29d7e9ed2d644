#!/usr/bin/env python3
"""Writes the resources of FHIR Bundles (nested ones included) as NDJSON, rewriting urn:uuid references to the
Type/id they name, as a FHIR server does when it processes a transaction. The test server's --load keeps ids and
meta of NDJSON resources, so file and REST runs see the same versions. Usage: flatten_bundles.py OUT.ndjson BUNDLE..."""
import json
import sys


def entries(bundle):
    for e in bundle.get("entry", []):
        r = e.get("resource")
        if not r:
            continue
        if r.get("resourceType") == "Bundle":
            yield from entries(r)
        else:
            yield e.get("fullUrl", ""), r


def rewrite(node, urls):
    if isinstance(node, dict):
        return {k: (urls.get(v, v) if k == "reference" and isinstance(v, str) else rewrite(v, urls)) for k, v in node.items()}
    if isinstance(node, list):
        return [rewrite(x, urls) for x in node]
    return node


def main():
    out, paths = sys.argv[1], sys.argv[2:]
    with open(out, "w", encoding="utf-8") as f:
        for p in paths:
            with open(p, encoding="utf-8") as b:
                items = list(entries(json.load(b)))
            urls = {u: f"{r['resourceType']}/{r['id']}" for u, r in items if u}
            for _, r in items:
                f.write(json.dumps(rewrite(r, urls), ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
