"""The argparse parser every benchmark script starts from, built from its docstring.

Example:

    >>> parser = parser_from_doc("What it measures,\\nin two lines.\\n\\n    python x.py -h")
    >>> parser.description, parser.epilog
    ('What it measures, in two lines.', '    python x.py -h')
"""

from __future__ import annotations

import argparse


def parser_from_doc(doc: str) -> argparse.ArgumentParser:
    """A parser whose `--help` shows the docstring `doc`: its first paragraph as the
    description, the rest (commands, notes) as written after the options."""
    first, _, rest = doc.partition("\n\n")
    return argparse.ArgumentParser(
        description=" ".join(first.split()),
        epilog=rest or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
