"""`keras-recipes cache list|clear`: the decoded-image stores on disk, and freeing them."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from keras_recipes.startup import import_tensorflow_quietly


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


def main(argv: Sequence[str] | None = None, prog: str = "keras-recipes cache") -> int:
    """Lists the stores with their sizes (`list`) or deletes them (`clear`).

    Example:

    >>> import contextlib, io
    >>> with contextlib.redirect_stdout(io.StringIO()) as shown:
    ...     code = main(["list"])
    >>> from keras_recipes.data.store import stores_dir
    >>> code, str(stores_dir()) in shown.getvalue()
    (0, True)
    """
    parser = argparse.ArgumentParser(
        prog=prog,
        description="The decoded-image stores under $KERAS_RECIPES_CACHE/stores "
        "(default ~/.cache/keras_recipes/stores): list them, or clear them.",
    )
    parser.add_argument("action", choices=("list", "clear"), help="list or clear the stores")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()  # the store module imports the data package
    from keras_recipes.data.store import clear_stores, list_stores, stores_dir

    root = stores_dir()
    if args.action == "clear":
        count, freed = clear_stores(root)
        print(f"Removed {count} decoded-image store(s) from {root}, freeing {_size(freed)}.")
        return 0
    stores = list_stores(root)
    if not stores:
        print(f"No decoded-image stores in {root}.")
        return 0
    for info in stores:
        state = "" if info.complete else "  (incomplete: a build's debris or damaged)"
        print(f"{_size(info.bytes):>10}  {info.images:>8,} x {info.size} px  {info.path}{state}")
        if info.complete:
            print(f"{'':>10}  source: {info.source}")
    total = sum(info.bytes for info in stores)
    print(f"{_size(total):>10}  in {len(stores)} store(s); free them: {prog} clear")
    return 0
