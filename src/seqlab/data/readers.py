"""Readers for a user's own labelled text: jsonl/json (gz too), csv/tsv, fastText lines, folders.

Every reader returns parallel lists ``(texts, labels)`` with string labels and
raises :class:`SeqlabError` naming the file and line for anything the user can fix.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path

from seqlab.errors import SeqlabError

TEXT_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".ft")


def open_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` decoded as UTF-8, naming the first undecodable line."""
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            for number, raw in enumerate(fh, 1):
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise SeqlabError(f"{path}: line {number} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                                      "re-save the file as UTF-8") from None
    except FileNotFoundError:
        raise SeqlabError(f"file not found: {path}") from None
    except IsADirectoryError:
        raise SeqlabError(f"{path} is a folder, expected a file") from None
    except PermissionError:
        raise SeqlabError(f"cannot read {path}: permission denied") from None
    except (OSError, EOFError, zlib.error) as exc:  # e.g. a truncated, fake or corrupted .gz
        raise SeqlabError(f"cannot read {path}: {exc}") from None


def _base_suffix(path: Path) -> str:
    name = path.name[:-3] if path.name.endswith(".gz") else path.name
    return Path(name).suffix.lower()


def _label_str(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _check_columns(path: Path, row: dict, text_column: str, label_column: str | None, where: str) -> None:
    missing = [c for c in (text_column, label_column) if c is not None and c not in row]
    if missing:
        have = ", ".join(map(str, row.keys())) or "none"
        raise SeqlabError(f"{path}{where}: no column {missing[0]!r} (columns: {have}); "
                          "choose them with --text-column/--label-column")


def read_jsonl(path: Path, text_column: str, label_column: str | None) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    lines = list(open_text_lines(path))
    stripped = "".join(line for _, line in lines).lstrip()
    if _base_suffix(path) == ".json" and stripped.startswith("["):
        try:
            rows = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise SeqlabError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
        except RecursionError:
            raise SeqlabError(f"{path}: JSON nested too deeply to read") from None
        numbered = list(enumerate(rows, 1))
    else:
        numbered = []
        for number, line in lines:
            if not line.strip():
                continue
            try:
                numbered.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise SeqlabError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
            except RecursionError:
                raise SeqlabError(f"{path}: line {number}: JSON nested too deeply to read") from None
    for number, row in numbered:
        if not isinstance(row, dict):
            raise SeqlabError(f"{path}: record {number} is not a JSON object")
        _check_columns(path, row, text_column, label_column, f": line {number}")
        texts.append(str(row[text_column]))
        labels.append(_label_str(row[label_column]) if label_column else "")
    return texts, labels


CSV_FIELD_LIMIT = 2**31 - 1  # csv's own limit is 131,072 characters a field; texts are cut to --max-len later


def read_delimited(path: Path, text_column: str, label_column: str | None,
                   delimiter: str) -> tuple[list[str], list[str]]:
    """A csv/tsv with a header row. A field may be of any size and, quoted, span lines: a record is reported by
    the file line it starts on (``csv.reader.line_num`` counts the physical lines read so far, its last one)."""
    content = "".join(line for _, line in open_text_lines(path))
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
    previous_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
    texts, labels = [], []
    start = 1  # the line the record being read starts on
    header: list[str] | None = None
    wanted: list[int] = []  # the text column's index, then the label column's
    try:
        for row in reader:
            if row == []:  # a blank line (DictReader skips them too)
                start = reader.line_num + 1
                continue
            if header is None:
                header = row
                _check_columns(path, dict.fromkeys(header), text_column, label_column, " header")
                index = {name: i for i, name in enumerate(header)}  # a repeated name: its last column
                wanted = [index[text_column], *([index[label_column]] if label_column else [])]
            elif len(row) <= max(wanted):
                hint = (f" (the record runs to line {reader.line_num}: is a quote left open?)"
                        if reader.line_num > start else "")
                raise SeqlabError(f"{path}: line {start} has fewer columns than the header{hint}")
            else:
                texts.append(row[wanted[0]])
                labels.append(row[wanted[1]] if label_column else "")
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SeqlabError(f"{path}: line {start}: {exc}") from None
    finally:
        csv.field_size_limit(previous_limit)
    if header is None:
        raise SeqlabError(f"{path}: empty file (expected a header row with column names)")
    return texts, labels


def read_fasttext(path: Path) -> tuple[list[str], list[str]]:
    """``__label__pos great film`` lines; the first label of a line is used."""
    texts, labels = [], []
    for number, line in open_text_lines(path):
        line = line.strip()
        if not line:
            continue
        words = line.split(maxsplit=1)
        if not words[0].startswith("__label__"):
            raise SeqlabError(f"{path}: line {number} does not start with __label__<name> (fastText format)")
        label = words[0][len("__label__"):]
        rest = words[1] if len(words) > 1 else ""
        while rest.startswith("__label__"):
            parts = rest.split(maxsplit=1)
            rest = parts[1] if len(parts) > 1 else ""
        texts.append(rest)
        labels.append(label)
    return texts, labels


def read_label_folders(root: Path) -> tuple[list[str], list[str]]:
    """``root/<label>/*.txt``: one document per file, labelled by its folder (aclImdb layout)."""
    texts, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt"), key=_natural_key):
            try:
                texts.append(file.read_text(encoding="utf-8"))
            except UnicodeDecodeError as exc:
                raise SeqlabError(f"{file}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            labels.append(folder.name)
    if not texts:
        raise SeqlabError(f"{root}: no <label>/*.txt files found")
    return texts, labels


def _natural_key(path: Path) -> tuple:
    stem = path.stem.split("_")[0]
    return (int(stem), path.name) if stem.isdigit() else (float("inf"), path.name)


def read_labelled(path: str | Path, text_column: str = "text",
                  label_column: str | None = "label") -> tuple[list[str], list[str]]:
    """Read one labelled file or label-folder tree, choosing the reader from its name."""
    path = Path(path)
    if not path.exists():
        raise SeqlabError(f"file or folder not found: {path}")
    if path.is_dir():
        return read_label_folders(path)
    suffix = _base_suffix(path)
    if suffix in (".jsonl", ".json", ".ndjson"):
        return read_jsonl(path, text_column, label_column)
    if suffix == ".csv":
        return read_delimited(path, text_column, label_column, ",")
    if suffix == ".tsv":
        return read_delimited(path, text_column, label_column, "\t")
    if suffix in (".txt", ".ft"):
        return read_fasttext(path)
    raise SeqlabError(f"{path}: unknown file type {suffix or '(none)'}; use .jsonl, .json, .csv, .tsv, "
                      "fastText .txt (__label__x text), or a folder with one sub-folder per label")
