"""The config reference tables of the documentation, generated from the schema.

    python -m bayes_dps.config.reference            # print both tables
    python -m bayes_dps.config.reference --write docs/config.md   # replace them in place

In ``docs/config.md`` (``make docs-pages``) the tables stand between
``<!-- config-reference:online -->`` … ``<!-- end -->`` (and ``:bads``); a test checks they
equal what this module prints.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from bayes_dps.config import keys
from bayes_dps.config.schema import Key, Tree, walk


def _default(key: Key) -> str:
    if key.shown_default is not None:
        return key.shown_default
    value: Any = key.default
    if value is None:
        return "–"
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return f"`{text}`"


def table(tree: Tree, skip: Tree | None = None) -> str:
    """Markdown table ``key | default | values | meaning`` of the keys of ``tree`` (leaving out
    those that are the same objects as in ``skip``)."""
    shared = {name: key for name, key in walk(skip)} if skip else {}
    rows = ["| key | default | values | meaning |", "|---|---|---|---|"]
    for name, key in walk(tree):
        if shared.get(name) is key:
            continue
        values = key.check.describe().replace("|", "\\|")
        rows.append(
            f"| `{name}` | {_default(key)} | {values} | {key.doc.replace('|', chr(92) + '|')} |"
        )
    return "\n".join(rows)


def tables() -> dict[str, str]:
    """``online``: the shared keys and those of ``bayes-dps online``; ``bads``: the keys
    ``bayes-dps bads`` adds or sets differently."""
    return {"online": table(keys.ONLINE), "bads": table(keys.BADS, skip=keys.ONLINE)}


def replace_in(text: str) -> str:
    """``text`` with each marked table replaced by the generated one."""
    for name, body in tables().items():
        pattern = re.compile(rf"(<!-- config-reference:{name} -->\n).*?(<!-- end -->)", flags=re.S)
        if not pattern.search(text):
            raise ValueError(f"no <!-- config-reference:{name} --> … <!-- end --> block")
        text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(2), text)
    return text


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--write", metavar="FILE", help="replace the marked tables in FILE")
    args = p.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(replace_in(path.read_text()))
        print(f"updated {path}")
    else:
        for name, body in tables().items():
            print(f"## {name}\n\n{body}\n")


if __name__ == "__main__":  # pragma: no cover
    main()
