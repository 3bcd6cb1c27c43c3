"""Tagged sentences in CoNLL column files: reading, the ``conll2003`` dataset, and CoNLL-style word splitting.

A column file holds one token per line, its columns separated by spaces or tabs
(CoNLL-2003: ``WORD POS CHUNK NER``), a blank line between sentences, and
``-DOCSTART-`` lines between documents (skipped). Every token line must have as many
columns as the first one of the file; a line that does not, a tag that is not a label
of the chosen scheme, or bytes that are not UTF-8 are reported with file and line.

``--data`` resolves like every other dataset (``seqlab.data.registry``): an explicit
path (a file, or a folder holding ``train``/``dev``/``valid``/``test`` files), then
``$SEQLAB_DATA/conll2003``, then the hub copy ``eriktks/conll2003`` with ``datasets``.
The local CoNLL-2003 files use the original IOB1 scheme, the hub copy IOB2 (BIO):
:attr:`TaggedSentences.scheme` records which, so a task can convert and write back.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from seqlab.data.cache import fingerprint
from seqlab.data.readers import open_text_lines
from seqlab.data.registry import DatasetSpec, load_hub, local_dataset_dir, lookup, register
from seqlab.data.splits import split_names
from seqlab.errors import SeqlabError
from seqlab.text.tagging import detect_scheme, normalize_scheme, validate_tags

CONLL2003 = register(DatasetSpec(
    name="conll2003", task="tag", folder="conll2003", hub_name="eriktks/conll2003",
    splits={"train": "train.txt", "valid": "dev.txt"},
    description="CoNLL-2003 English NER (Tjong Kim Sang & De Meulder 2003): 14,041 train / 3,250 dev sentences, "
                "columns WORD POS CHUNK NER, IOB1 tags; research use only (Reuters RCV1)",
))

DOCSTART = "-DOCSTART-"
# the named columns of the CoNLL-2003 layout (WORD POS CHUNK NER), and their schemes in the local files
CONLL2003_COLUMNS = {"word": 0, "pos": 1, "chunk": 2, "ner": 3}
CONLL2003_SCHEMES = {"pos": "none", "chunk": "iob1", "ner": "iob1"}
HUB_COLUMNS = {"pos": "pos_tags", "chunk": "chunk_tags", "ner": "ner_tags"}
HUB_SCHEMES = {"pos": "none", "chunk": "bio", "ner": "bio"}  # the hub copy is converted to IOB2
CONLL_SUFFIXES = ("", ".txt", ".conll", ".tsv", ".bio", ".iob")


@dataclass
class TaggedSentences:
    """Sentences as words with one tag each, and where they came from."""

    words: list[list[str]]
    tags: list[list[str]]
    source: str  # path#columns@fingerprint (or hub:...), for messages and the cache key
    scheme: str | None = None  # iob1 | bio | bioes | none as given or detected; None when the tags do not tell
    lines: list[int] = field(default_factory=list)  # the file line of each sentence's first token (empty from the hub)

    def __len__(self) -> int:
        return len(self.words)

    @property
    def num_tokens(self) -> int:
        return sum(len(s) for s in self.words)

    def subset(self, indices: list[int], source: str) -> TaggedSentences:
        return TaggedSentences([self.words[i] for i in indices], [self.tags[i] for i in indices], source, self.scheme,
                               [self.lines[i] for i in indices] if self.lines else [])


def _column_index(column: int | str, width: int, path: Path, role: str) -> int:
    """A column given by index (negative counts from the end) or, for tags, by name (ner|pos|chunk)."""
    if isinstance(column, str) and not column.lstrip("-").isdigit():
        name = column.lower()
        if name not in CONLL2003_COLUMNS:
            raise SeqlabError(f"--{role}-column {column!r}: give a column index or one of ner, pos, chunk")
        if width == len(CONLL2003_COLUMNS):
            return CONLL2003_COLUMNS[name]
        if name == "ner":
            return width - 1  # in any other layout the entity tags are taken to be the last column
        raise SeqlabError(f"{path}: --{role}-column {name} names a column of the 4-column CoNLL-2003 layout "
                          f"(WORD POS CHUNK NER), but this file has {width} columns; give the column's index")
    index = int(column)
    if not -width <= index < width:
        raise SeqlabError(f"{path}: --{role}-column {index} is out of range; its lines have {width} columns")
    return index % width


def _column_name(column: int | str) -> str:
    return column.lower() if isinstance(column, str) and not column.lstrip("-").isdigit() else ""


def iter_conll(path: str | Path, word_column: int | str = 0, tag_column: int | str = -1,
               scheme: str | None = None) -> Iterator[tuple[list[str], list[str], int]]:
    """Stream a CoNLL column file: ``(words, tags, line)`` per sentence, ``line`` being its first token's line;
    one sentence is held at a time. ``scheme`` (given) checks every tag as :func:`read_conll` does; detecting a
    scheme needs every tag, which :func:`seqlab.text.tagging.detect_scheme` reads from a second pass (it takes an
    iterator of tag lists). A file without a single sentence is refused at its end."""
    path = Path(path)
    if path.is_dir():
        raise SeqlabError(f"{path} is a folder, expected a CoNLL column file")
    if scheme is not None:
        scheme = normalize_scheme(scheme)
    sent_words: list[str] = []
    sent_tags: list[str] = []
    width = first_line = start = 0
    w_col = t_col = 0
    checked: set[str] = set()
    found = False
    for number, line in open_text_lines(path):
        cols = line.split()
        if not cols or cols[0] == DOCSTART:
            if sent_words:
                found = True
                yield sent_words, sent_tags, start
                sent_words, sent_tags = [], []
            continue
        if not width:
            width, first_line = len(cols), number
            if width < 2:
                raise SeqlabError(f"{path}: line {number} has one column; a CoNLL file needs a word and a tag "
                                  "column on every token line (separated by spaces or tabs)")
            w_col = _column_index(word_column, width, path, "word")
            t_col = _column_index(tag_column, width, path, "tag")
            if w_col == t_col:
                raise SeqlabError(f"{path}: the word and tag columns are both column {w_col}")
        elif len(cols) != width:
            raise SeqlabError(f"{path}: line {number} has {len(cols)} columns, but line {first_line} (the first token "
                              f"line) has {width}: {line.strip()[:80]!r}")
        if scheme is not None and scheme != "none" and cols[t_col] not in checked:
            validate_tags([cols[t_col]], scheme, where=f"{path}: line {number}")  # each tag once: its first line
            checked.add(cols[t_col])
        if not sent_words:
            start = number
        sent_words.append(cols[w_col])
        sent_tags.append(cols[t_col])
    if sent_words:
        found = True
        yield sent_words, sent_tags, start
    if not found:
        raise SeqlabError(f"{path}: no tagged sentences found (expected one 'WORD ... TAG' line per token)")


def read_conll(path: str | Path, word_column: int | str = 0, tag_column: int | str = -1,
               scheme: str | None = None) -> TaggedSentences:
    """Read a CoNLL column file into sentences of (word, tag).

    ``tag_column``: an index (``-1``: the last column) or ``ner``/``pos``/``chunk`` (columns
    3/1/2 of the CoNLL-2003 layout). ``scheme``: the tag scheme the file is written in
    (every tag is checked against it, file:line on the first bad one); None detects it
    (:func:`seqlab.text.tagging.detect_scheme`, None when the tags do not tell).
    """
    path = Path(path)
    words: list[list[str]] = []
    tags: list[list[str]] = []
    lines: list[int] = []
    for sent_words, sent_tags, line in iter_conll(path, word_column, tag_column, scheme):
        words.append(sent_words)
        tags.append(sent_tags)
        lines.append(line)
    found = normalize_scheme(scheme) if scheme is not None else detect_scheme(tags)
    source = f"{path}#w{word_column}t{tag_column}@{fingerprint(path)}"
    return TaggedSentences(words, tags, source, found, lines)


def _find_split_file(folder: Path, split: str) -> Path | None:
    for name in split_names(split):
        for suffix in CONLL_SUFFIXES:
            candidate = folder / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def load_split(data: str, split: str, word_column: int | str = 0, tag_column: int | str = "ner",
               scheme: str | None = None) -> TaggedSentences:
    """One split (``train``, ``valid``/``dev``, ``test``) of ``data``: a file, a folder, or ``conll2003``.

    A single file is the train split (other splits of it must be given as their own files).
    ``scheme`` None takes the known scheme of ``conll2003`` (IOB1 locally, BIO from the hub)
    or detects it; a given scheme is checked against every tag.
    """
    path = Path(data).expanduser()
    spec = None
    if not path.exists():
        spec = lookup(data, "tag")
        if spec is None:
            raise SeqlabError(f"--data {data!r}: no such file or folder, and not a known dataset name (known: conll2003)")
        local = local_dataset_dir(spec)
        if local is None:
            return _from_hub(spec, split, tag_column, scheme)
        path = local
        name = _column_name(tag_column)
        if scheme is None and name in CONLL2003_SCHEMES:
            scheme = CONLL2003_SCHEMES[name]
    if path.is_file():
        if split != "train":
            raise SeqlabError(f"{path} is a single file, read as the train split; pass the {split} data as its own file")
        return read_conll(path, word_column, tag_column, scheme)
    found = _find_split_file(path, split)
    if found is None:
        names = "/".join(split_names(split))
        raise SeqlabError(f"{path} has no {split} split (looked for {names} with no suffix or "
                          f"{', '.join(s for s in CONLL_SUFFIXES if s)})")
    return read_conll(found, word_column, tag_column, scheme)


def _from_hub(spec: DatasetSpec, split: str, tag_column: int | str, scheme: str | None) -> TaggedSentences:
    """The hub copy: integer tags mapped through the dataset's ClassLabel names."""
    name = _column_name(tag_column) or {1: "pos", 2: "chunk", 3: "ner", -1: "ner"}.get(int(tag_column), "")
    if name not in HUB_COLUMNS:
        raise SeqlabError(f"the hub copy of {spec.name} has the tag columns ner, pos and chunk; got {tag_column!r}")
    hub_split = {"valid": "validation", "dev": "validation", "val": "validation"}.get(split, split)
    ds = load_hub(spec, hub_split)
    column = HUB_COLUMNS[name]
    names = ds.features[column].feature.names  # Sequence(ClassLabel(names=[...]))
    words = [list(w) for w in ds["tokens"]]
    tags = [[names[i] for i in row] for row in ds[column]]
    keep = [i for i, w in enumerate(words) if w and w[0] != DOCSTART]
    out = TaggedSentences([words[i] for i in keep], [tags[i] for i in keep], f"hub:{spec.hub_name}:{hub_split}:{name}",
                          HUB_SCHEMES[name])
    if scheme is not None and normalize_scheme(scheme) != out.scheme:
        raise SeqlabError(f"the hub copy of {spec.name} is written in {out.scheme}, not {scheme}")
    return out


# ---- raw text into CoNLL-style words ---------------------------------------------------------------

_ABBREVIATIONS = ("Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Corp|Ltd|Co|Bros|Gen|Gov|Sen|Rep|Lt|Col|Capt|Sgt|Mt|Ft|vs|etc|"
                  "Jan|Feb|Aug|Sep|Sept|Oct|Nov|Dec|No")
_TOKEN = re.compile(rf"""
    \b(?:[A-Za-z]\.){{2,}}                                # U.S.  U.N.  a.m.  F.C.
  | \b(?:{_ABBREVIATIONS})\.                              # Inc.  Corp.  St.  vs.
  | \b[A-Z]\.(?=\s+[A-Z])                                 # an initial before a name: J. Smith
  | \w+(?:(?:[-'’/&]|(?<=\d)[.,:](?=\d))\w+)*             # words, one-day, O'Brien, 1,000, 6.0, 1996-08-30
  | -{{2,}} | \.{{2,}}                                    # --  ...
  | [^\w\s]                                               # any other punctuation, one character each
""", re.VERBOSE)
_CLITIC = re.compile(r"(?i)(?<=\w)(n['’]t|['’](?:s|re|m|ve|ll|d))$")  # don't -> do n't, it's -> it 's (PTB/CoNLL)


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Raw text split into words as the CoNLL-2003 data is tokenised, with each word's character span.

    Punctuation is split off (``lamb.`` -> ``lamb`` ``.``), while abbreviations (``U.S.``,
    ``Inc.``), numbers (``1,000``, ``6.0``, ``1996-08-30``), hyphenated words and names
    (``one-day``, ``O'Brien``) stay whole; clitics split as in the Penn Treebank (``don't`` ->
    ``do`` ``n't``). ``text[start:end]`` is each word, so entities map back to characters.
    """
    words: list[str] = []
    offsets: list[tuple[int, int]] = []
    for match in _TOKEN.finditer(text):
        word, start, end = match.group(), match.start(), match.end()
        clitic = _CLITIC.search(word)
        if clitic:
            cut = start + clitic.start()
            words += [text[start:cut], text[cut:end]]
            offsets += [(start, cut), (cut, end)]
        else:
            words.append(word)
            offsets.append((start, end))
    return words, offsets


__all__ = ["CONLL2003", "TaggedSentences", "iter_conll", "load_split", "read_conll", "split_words"]
