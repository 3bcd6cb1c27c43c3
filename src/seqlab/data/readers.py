"""Readers for a user's own labelled text: jsonl/json (gz too), csv/tsv, fastText lines, folders.

Each format has a streaming reader, ``iter_*``, that yields one ``(text, label)`` record at a time and holds only
the record being read (a corpus larger than memory reads in constant memory; README "Corpora larger than memory");
``read_*`` and :func:`read_labelled` are the same readers gathered into parallel lists ``(texts, labels)``. Labels
are strings. Anything the user can fix raises :class:`SeqlabError` naming the file and line. A ``.json`` file that
holds one JSON array is the one format read whole: JSON has no record boundaries to stream on (write ``.jsonl``).
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

from seqlab.errors import SeqlabError

TEXT_SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".ft")

LabelledRecords = Iterator[tuple[str, str]]  # (text, label) after (text, label)


def open_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` decoded as UTF-8, naming the first undecodable line (streams: one line held)."""
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


def _json_records(path: Path) -> Iterator[tuple[int, object]]:
    """``(line number, parsed object)`` of each non-blank line of a JSON-lines file, or ``(index, element)`` of a
    ``.json`` file holding one array (read whole: the one format that cannot stream)."""
    lines = open_text_lines(path)
    if _base_suffix(path) == ".json":
        head: list[tuple[int, str]] = []
        for number, line in lines:  # up to the first line with something on it: an array, or JSON lines
            head.append((number, line))
            if line.strip():
                break
        if head and head[-1][1].lstrip().startswith("["):
            text = "".join(line for _, line in head) + "".join(line for _, line in lines)
            try:
                rows = json.loads(text.lstrip())
            except json.JSONDecodeError as exc:
                raise SeqlabError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None
            except RecursionError:
                raise SeqlabError(f"{path}: JSON nested too deeply to read") from None
            yield from enumerate(rows, 1)
            return
        lines = _chain(head, lines)
    for number, line in lines:
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise SeqlabError(f"{path}: line {number} is not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise SeqlabError(f"{path}: line {number}: JSON nested too deeply to read") from None


def _chain(head: list[tuple[int, str]], rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield from head
    yield from rest


def iter_jsonl(path: Path, text_column: str, label_column: str | None) -> LabelledRecords:
    """JSON lines (one object a line, blank lines skipped), or a ``.json`` file with one array of objects."""
    for number, row in _json_records(path):
        if not isinstance(row, dict):
            raise SeqlabError(f"{path}: record {number} is not a JSON object")
        _check_columns(path, row, text_column, label_column, f": line {number}")
        yield str(row[text_column]), (_label_str(row[label_column]) if label_column else "")


def read_jsonl(path: Path, text_column: str, label_column: str | None) -> tuple[list[str], list[str]]:
    return _gather(iter_jsonl(path, text_column, label_column))


CSV_FIELD_LIMIT = 2**31 - 1  # csv's own limit is 131,072 characters a field; texts are cut to --max-len later
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")  # a line end of old Mac files: csv reads them as line ends too


def _csv_lines(path: Path) -> Iterator[str]:
    """The file's lines as ``io.StringIO(text, newline="")`` gives them to csv (``\\n``, ``\\r\\n`` or a lone
    ``\\r`` ends a line, kept), decoded one line at a time; so ``reader.line_num`` counts the same lines."""
    for _, line in open_text_lines(path):
        if "\r" in line:
            yield from (piece for piece in _LONE_CR.split(line) if piece)
        else:
            yield line


def iter_delimited(path: Path, text_column: str, label_column: str | None, delimiter: str) -> LabelledRecords:
    """A csv/tsv with a header row. A field may be of any size and, quoted, span lines: a record is reported by
    the file line it starts on (``csv.reader.line_num`` counts the physical lines read so far, its last one)."""
    reader = csv.reader(_csv_lines(path), delimiter=delimiter)
    previous_limit = csv.field_size_limit(CSV_FIELD_LIMIT)
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
                start = reader.line_num + 1
                csv.field_size_limit(previous_limit)  # the process's own limit while the caller has the record
                yield row[wanted[0]], (row[wanted[1]] if label_column else "")
                csv.field_size_limit(CSV_FIELD_LIMIT)
                continue
            start = reader.line_num + 1
    except csv.Error as exc:
        raise SeqlabError(f"{path}: line {start}: {exc}") from None
    finally:
        csv.field_size_limit(previous_limit)
    if header is None:
        raise SeqlabError(f"{path}: empty file (expected a header row with column names)")


def read_delimited(path: Path, text_column: str, label_column: str | None,
                   delimiter: str) -> tuple[list[str], list[str]]:
    return _gather(iter_delimited(path, text_column, label_column, delimiter))


def iter_fasttext(path: Path) -> LabelledRecords:
    """``__label__pos great film`` lines; the first label of a line is used."""
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
        yield rest, label


def read_fasttext(path: Path) -> tuple[list[str], list[str]]:
    return _gather(iter_fasttext(path))


def iter_label_folders(root: Path) -> LabelledRecords:
    """``root/<label>/*.txt``: one document per file, labelled by its folder (aclImdb layout)."""
    found = False
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for file in sorted(folder.glob("*.txt"), key=_natural_key):
            try:
                text = file.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                raise SeqlabError(f"{file}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
            found = True
            yield text, folder.name
    if not found:
        raise SeqlabError(f"{root}: no <label>/*.txt files found")


def read_label_folders(root: Path) -> tuple[list[str], list[str]]:
    return _gather(iter_label_folders(root))


def _natural_key(path: Path) -> tuple:
    stem = path.stem.split("_")[0]
    return (int(stem), path.name) if stem.isdigit() else (float("inf"), path.name)


def _gather(records: LabelledRecords) -> tuple[list[str], list[str]]:
    texts: list[str] = []
    labels: list[str] = []
    for text, label in records:
        texts.append(text)
        labels.append(label)
    return texts, labels


def iter_labelled(path: str | Path, text_column: str = "text", label_column: str | None = "label") -> LabelledRecords:
    """Stream one labelled file or label-folder tree, choosing the reader from its name: ``(text, label)`` records
    in file order. The file's type and existence are checked at once, before the first record is asked for."""
    path = Path(path)
    if not path.exists():
        raise SeqlabError(f"file or folder not found: {path}")
    if path.is_dir():
        return iter_label_folders(path)
    suffix = _base_suffix(path)
    if suffix in (".jsonl", ".json", ".ndjson"):
        return iter_jsonl(path, text_column, label_column)
    if suffix == ".csv":
        return iter_delimited(path, text_column, label_column, ",")
    if suffix == ".tsv":
        return iter_delimited(path, text_column, label_column, "\t")
    if suffix in (".txt", ".ft"):
        return iter_fasttext(path)
    raise SeqlabError(f"{path}: unknown file type {suffix or '(none)'}; use .jsonl, .json, .csv, .tsv, "
                      "fastText .txt (__label__x text), or a folder with one sub-folder per label")


def read_labelled(path: str | Path, text_column: str = "text",
                  label_column: str | None = "label") -> tuple[list[str], list[str]]:
    """Read one labelled file or label-folder tree whole: ``(texts, labels)``."""
    return _gather(iter_labelled(path, text_column, label_column))
