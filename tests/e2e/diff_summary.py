"""Groups a DIFF_REPORT file (markdown written by test_differential.py) by
command and by the pair of replies' first line, one example per group:

    DIFF_REPORT=/tmp/d.md python3 -m pytest tests/e2e/test_differential.py
    python3 tests/e2e/diff_summary.py /tmp/d.md > /tmp/diff-failures.md
"""

import collections
import re
import sys


def first_line(reply_repr):
    # b'...\r\n...' -> up to the first \r\n (the error text, or the header)
    return reply_repr.split("\\r\\n")[0][:90]


def main(path):
    items = re.split(r"\n(?=- )", open(path).read().strip())
    groups = collections.OrderedDict()
    for it in items:
        lines = it.split("\n")
        m = re.search(r"command #-?\d+: `([^` ]+)", lines[0])
        cmd = m.group(1).upper() if m else "?"
        red = lines[1].split("`")[1] if len(lines) > 1 else ""
        slo = lines[2].split("`")[1] if len(lines) > 2 else ""
        key = (cmd, first_line(red)[:40], first_line(slo)[:40])
        groups.setdefault(key, []).append(it)
    by_cmd = collections.Counter(k[0] for k in groups for _ in groups[k])
    print(f"# Differential mismatches: {len(items)} in {len(groups)} groups\n")
    for cmd, n in by_cmd.most_common():
        print(f"## {cmd} ({n})\n")
        for key, its in groups.items():
            if key[0] == cmd:
                print(f"{len(its)} x, e.g.:\n{its[0]}\n")


if __name__ == "__main__":
    main(sys.argv[1])
