"""Whether openapi-typescript typed the 3.0 and the 3.1 documents the same: the 3.1 document alone
has `webhooks` (the events the service sends), their operations and the schemas only they name;
without those, the two files of types must be equal.

    python3 same_types.py TYPES_OF_3_0 TYPES_OF_3_1
"""

import difflib
import re
import sys


def members(lines: list[str], header: str, indent: int) -> list[tuple[str, int, int]]:
    """The members of the block that the line `header` opens: each its name and the span of
    lines it takes (its doc comment included)."""
    pad = " " * indent
    spans: list[tuple[str, int, int]] = []
    i, first = lines.index(header) + 1, None
    while i < len(lines) and lines[i] not in (pad[:-4] + "};", pad[:-4] + "}"):
        line = lines[i]
        if first is None and line.startswith(pad + "/**"):
            first = i
        named = re.match(re.escape(pad) + r'"?([\w.]+)"?\??: ', line)
        if named:
            end = i
            if line.rstrip().endswith("{"):
                while lines[end] != pad + "};":
                    end += 1
            spans.append((named.group(1), i if first is None else first, end))
            first, i = None, end + 1
            continue
        if not line.startswith(pad + " ") and not line.startswith(pad + "/**"):
            first = None
        i += 1
    return spans


def main(of_3_0: str, of_3_1: str) -> int:
    older = open(of_3_0, encoding="utf-8").read().split("\n")
    newer = open(of_3_1, encoding="utf-8").read().split("\n")
    if "export type webhooks = Record<string, never>;" in newer:
        print("the 3.1 document's webhooks are missing from its types")
        return 1
    for header, indent in [("    schemas: {", 8), ("export interface operations {", 4)]:
        known = {name for name, _, _ in members(older, header, indent)}
        for name, first, end in reversed(members(newer, header, indent)):
            if name not in known:
                del newer[first : end + 1]
    text = re.sub(
        r"export interface webhooks \{.*?\n\}\n",
        "export type webhooks = Record<string, never>;\n",
        "\n".join(newer),
        count=1,
        flags=re.S,
    )
    if text == "\n".join(older):
        return 0
    diff = difflib.unified_diff("\n".join(older).splitlines(True), text.splitlines(True))
    print("".join(list(diff)[:40]))
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
