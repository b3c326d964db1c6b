#!/usr/bin/env python3
"""same_outputs.py — how often rules produce the very same response, item by item.

    python3 scripts/same_outputs.py results.json llada llada-2 llada-3

Reads a `dlmscope eval --out` file and, for the first rule label against each of the others,
prints the share of items whose responses are identical (e.g. a KV-cached run against the
uncached one at temperature 0), and how accuracy moved on the items that differ.
"""

import json
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: same_outputs.py RESULTS.json BASE_LABEL OTHER_LABEL...")
    with open(sys.argv[1]) as f:
        items = json.load(f)["items"]
    by = {}
    for it in items:
        by.setdefault(it["rule"], {})[it["id"]] = it
    base = sys.argv[2]
    if base not in by:
        sys.exit("%s: no rule labelled %s (labels: %s)" % (sys.argv[1], base, ", ".join(by)))
    print("| %s vs | items | identical responses | differing: base right / other right |" % base)
    print("|---|---|---|---|")
    for other in sys.argv[3:]:
        if other not in by:
            sys.exit("%s: no rule labelled %s" % (sys.argv[1], other))
        ids = [i for i in by[base] if i in by[other]]
        same = sum(by[base][i]["response"] == by[other][i]["response"] for i in ids)
        diff = [i for i in ids if by[base][i]["response"] != by[other][i]["response"]]
        print("| %s | %d | %d (%.1f%%) | %d / %d |" % (other, len(ids), same, 100.0 * same / max(len(ids), 1),
                                                     sum(by[base][i]["correct"] for i in diff),
                                                     sum(by[other][i]["correct"] for i in diff)))


if __name__ == "__main__":
    main()
