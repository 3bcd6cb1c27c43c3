"""Where a named dataset lives: an explicit path, ``$SEQLAB_DATA/<name>``, or the Hugging Face hub.

The order is always the same for every dataset, so a user who passes a path
gets exactly that data, and a machine with ``SEQLAB_DATA`` set never goes online.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.errors import SeqlabError

DATA_ENV = "SEQLAB_DATA"


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset seqlab knows by name."""

    name: str
    task: str  # "classify", "translate", ...
    folder: str  # sub-folder of $SEQLAB_DATA
    hub_name: str  # Hugging Face hub id, used when nothing local is found
    splits: dict[str, str] = field(default_factory=dict)  # split name -> file name inside the folder
    label_names: dict[str, str] = field(default_factory=dict)  # raw label -> readable label
    description: str = ""


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> DatasetSpec:
    DATASETS[spec.name] = spec
    return spec


IMDB = register(DatasetSpec(
    name="imdb", task="classify", folder="imdb", hub_name="stanfordnlp/imdb",
    splits={"train": "train.jsonl.gz", "test": "test.jsonl.gz"},
    label_names={"0": "neg", "1": "pos"},
    description="IMDB movie reviews, 25k train / 25k test, binary sentiment (Maas et al. 2011)",
))


def local_dataset_dir(spec: DatasetSpec) -> Path | None:
    """``$SEQLAB_DATA/<folder>`` if the variable is set and the folder exists."""
    root = os.environ.get(DATA_ENV)
    if not root:
        return None
    folder = Path(root).expanduser() / spec.folder
    return folder if folder.is_dir() else None


def not_found_message(spec: DatasetSpec) -> str:
    return (f"dataset {spec.name!r} was not found locally and the Hugging Face hub could not be used. "
            f"Either pass --data PATH (a file or folder), set {DATA_ENV} to a folder containing "
            f"{spec.folder}/ (on seqlab's machines: {DATA_ENV}=../shared/data), or install 'datasets' "
            f"(pip install 'seqlab[hub]') and go online to download {spec.hub_name}.")


def lookup(name: str, task: str) -> DatasetSpec | None:
    spec = DATASETS.get(name.lower())
    if spec is not None and spec.task != task:
        raise SeqlabError(f"dataset {name!r} is for the {spec.task!r} task, not {task!r}")
    return spec


def load_hub(spec: DatasetSpec, split: str):
    """Load one split from the hub with ``datasets`` (optional dependency), or explain why not."""
    try:
        import datasets  # type: ignore[import-not-found]
    except ImportError:
        raise SeqlabError(not_found_message(spec)) from None
    try:
        return datasets.load_dataset(spec.hub_name, split=split)
    except Exception as exc:  # offline, unknown split, hub error: all user-fixable
        raise SeqlabError(f"{not_found_message(spec)} (hub error: {type(exc).__name__}: {exc})") from None
