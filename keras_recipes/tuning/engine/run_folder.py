"""A search's run folder: the settings file saved in it, claiming it for a new run, and the
check that a resumed run measures what the saved one did.

Both tuning products keep their settings as a frozen dataclass with `SavedSettings` mixed
in: `train-with-bo` in `tuning.json`, `keras-recipes tune` in `tune.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from keras_recipes import atomic
from keras_recipes.errors import ConfigError
from keras_recipes.training.run_dir import check_run_dir
from keras_recipes.training.setup import describe_json

#: Settings file -> the command whose run folder holds it.
RUN_FILES = {"tuning.json": "train-with-bo", "tune.json": "keras-recipes tune"}


class SavedSettings:
    """Save, load and resume-identity of a search's settings (a mixin).

    A class sets `CONFIG_NAME` (one of `RUN_FILES`), `IDENTITY_KEYS` (the `to_json` keys a
    resumed run may not change) and `KEY_NAMES` (how messages name them), and defines
    `to_json` / `from_json`.
    """

    CONFIG_NAME: ClassVar[str]
    IDENTITY_KEYS: ClassVar[tuple[str, ...]]
    KEY_NAMES: ClassVar[dict[str, str]] = {
        "train": "training set-up (recipe/data/size/width/epochs)"
    }

    def to_json(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_json(cls, doc: dict[str, Any]):
        raise NotImplementedError

    def identity(self) -> dict[str, Any]:
        """What the trials measure: resuming with a different identity is an error."""
        doc = self.to_json()
        return {key: doc[key] for key in self.IDENTITY_KEYS}

    def resume_identity(self) -> dict[str, Any]:
        """`identity()` plus what else a resumed run must keep (a class may add to it)."""
        return self.identity()

    def check_extends(self, saved) -> None:
        """Raises ConfigError when resuming `saved` with these settings would undo part of
        the run (beyond its identity); nothing by default."""

    def describe_value(self, key: str, value: Any) -> str:
        """An identity value, as a message shows it."""
        if key == "train" and isinstance(value, dict):
            return describe_json(value)
        return repr(value)

    def save(self, run_dir: str | Path) -> Path:
        """Writes the settings into `run_dir` (atomically); returns the file."""
        path = Path(run_dir) / self.CONFIG_NAME
        atomic.write_json(path, self.to_json(), indent=2)
        return path

    @classmethod
    def load(cls, run_dir: str | Path):
        """The settings saved in `run_dir`.

        Raises:
            ConfigError: `run_dir` holds no (readable) run of this kind.
        """
        path = Path(run_dir) / cls.CONFIG_NAME
        if not path.is_file():
            raise ConfigError(
                f"{run_dir} is not a {RUN_FILES[cls.CONFIG_NAME]} run directory "
                f"(no {cls.CONFIG_NAME} in it)."
            )
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"Cannot read {path}: {err}") from None


def claim_run_dir(config: SavedSettings, run_dir: Path, resume: bool) -> None:
    """Checks, without writing, that `run_dir` may take this run: a new run needs a folder
    that holds no search, a resumed one the same kind of run with the same identity.

    Example:

    >>> import tempfile
    >>> from keras_recipes.tuning.bo.config import TuningConfig
    >>> from keras_recipes.tuning.bo.space import SearchSpace
    >>> config = TuningConfig(SearchSpace.from_mapping({"x": (-2, 6)}), objective="toy")
    >>> run_dir = Path(tempfile.mkdtemp())
    >>> claim_run_dir(config, run_dir, resume=False)  # a fresh folder: fine
    >>> _ = config.save(run_dir)
    >>> try:
    ...     claim_run_dir(config, run_dir, resume=False)
    ... except ConfigError as err:
    ...     print(str(err).split(";")[0].endswith("already holds a train-with-bo run"))
    True

    Raises:
        ConfigError: naming the folder, what it holds and what to do.
    """
    product = RUN_FILES[config.CONFIG_NAME]
    for name, other in RUN_FILES.items():
        if name != config.CONFIG_NAME and (run_dir / name).exists():
            raise ConfigError(f"{run_dir} holds a {other} run; choose another --out.")
    if resume:
        saved = type(config).load(run_dir)
        check_same_identity(saved, config, run_dir)
        config.check_extends(saved)
    elif (run_dir / config.CONFIG_NAME).exists():
        raise ConfigError(
            f"{run_dir} already holds a {product} run; continue it with --resume {run_dir}, "
            "or choose another --out."
        )
    check_run_dir(run_dir)


def check_same_identity(saved: SavedSettings, requested: SavedSettings, run_dir: Path) -> None:
    """Raises ConfigError naming both values when `requested` measures something else."""
    old, new = saved.resume_identity(), requested.resume_identity()
    for key, value in old.items():
        if value != new.get(key):
            raise ConfigError(
                f"Cannot resume {run_dir} with a different {saved.KEY_NAMES.get(key, key)}: "
                f"the run has {saved.describe_value(key, value)}, this command asks for "
                f"{saved.describe_value(key, new.get(key))}. Resume with the run's settings "
                "(omit the flag) or start a new --out."
            )
