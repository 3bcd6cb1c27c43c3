"""Scoring word vectors the way gensim does: word similarity (Spearman, Pearson) and analogies (3CosAdd, by section).

For any ``(words, matrix)``: a trained embeddings model directory, GloVe, a ``.txt``/``.vec`` file. The rules are
gensim's ``KeyedVectors.evaluate_word_pairs`` and ``evaluate_word_analogies`` (themselves word2vec's
``compute-accuracy``), so the figures can be set beside published ones:

- only the first ``restrict_vocab`` words (300,000; the vocabulary is most frequent first) take part, and
  with ``case_insensitive`` words match upper-cased, the first (most frequent) case variant standing for the word;
- a pair or question with a word outside them is out of vocabulary: counted (``oov``, ``oov_ratio`` in %),
  and skipped (or, with ``dummy4unknown``, scored 0 similarity / a wrong answer, as gensim's flag does);
- an analogy ``a : b :: c : ?`` is answered by the word nearest ``unit(b) - unit(a) + unit(c)`` (cosine) among
  the first ``restrict_vocab`` words, ``a``, ``b`` and ``c`` excluded (gensim looks at the top 5 of them).

The three standard files ship inside the gensim wheel (``gensim/test/test_data/``): :func:`standard_file` finds
them there when gensim is installed (a development and benchmark dependency, not a runtime one); otherwise pass
a path. numpy only: Spearman is Pearson on average ranks, as ``scipy.stats.spearmanr`` computes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqlab.errors import SeqlabError

RESTRICT_VOCAB = 300_000  # gensim's default
ANALOGY_CHUNK = 256  # questions scored per matrix product: (256, 300k) float32 scores are 300 MB
# the three files and their names inside gensim's test data
STANDARD_FILES = {"wordsim353": "wordsim353.tsv", "simlex999": "simlex999.txt", "analogies": "questions-words.txt"}
FLAGS = {"wordsim353": "wordsim", "simlex999": "simlex", "analogies": "analogies"}  # the evaluate flag of each


def standard_file(name: str) -> Path | None:
    """A standard evaluation file from the installed gensim wheel, or None without gensim."""
    import importlib.util

    spec = importlib.util.find_spec("gensim")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "test" / "test_data" / STANDARD_FILES[name]
    return path if path.is_file() else None


def resolve_file(name: str, given: str | None) -> Path | None:
    """A user's path (which must exist), else the standard file from gensim, else None."""
    if given:
        path = Path(given).expanduser()
        if not path.is_file():
            raise SeqlabError(f"--{FLAGS[name]} {given}: file not found")
        return path
    return standard_file(name)


@dataclass
class VectorSpace:
    """Vectors prepared for scoring: unit rows of the first ``restrict_vocab`` words and the lookup gensim uses."""

    words: list[str]
    unit: np.ndarray  # (N, D) float32 unit rows of the restricted vocabulary
    lookup: dict[str, int]  # word (upper-cased when case-insensitive) -> row: the first, most frequent variant
    canonical: np.ndarray  # (N,) each row's lookup row (a case variant points at the variant the lookup keeps)
    case_insensitive: bool

    @classmethod
    def build(cls, words: list[str], matrix: np.ndarray, restrict_vocab: int = RESTRICT_VOCAB,
              case_insensitive: bool = True) -> VectorSpace:
        if len(words) != len(matrix):
            raise SeqlabError(f"{len(words)} words but {len(matrix)} vectors")
        n = min(restrict_vocab, len(words))
        kept = words[:n]
        rows = np.asarray(matrix[:n], dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        unit = rows / np.where(norms > 0, norms, 1.0)
        keys = [w.upper() for w in kept] if case_insensitive else list(kept)
        lookup: dict[str, int] = {}
        for i, key in enumerate(keys):
            lookup.setdefault(key, i)
        canonical = np.fromiter((lookup[k] for k in keys), dtype=np.int64, count=n)
        return cls(kept, unit, lookup, canonical, case_insensitive)

    def key(self, word: str) -> str:
        return word.upper() if self.case_insensitive else word


# ---------------------------------------------------------------------------- word similarity
def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank (``scipy.stats.rankdata``'s default)."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_values)) + 1]
    ends = np.r_[starts[1:], len(values)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = (s + e + 1) / 2.0
    return ranks


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = x - x.mean(), y - y.mean()
    denominator = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denominator) if denominator > 0 else float("nan")


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(rankdata(np.asarray(x, dtype=np.float64)), rankdata(np.asarray(y, dtype=np.float64)))


def read_pairs(path: Path) -> list[tuple[str, str, float]]:
    """``word1 <tab> word2 <tab> score`` lines; ``#`` comments and malformed lines skipped (as gensim skips them)."""
    from seqlab.data.readers import open_text_lines

    pairs = []
    for _, line in open_text_lines(path):
        if not line or line.startswith("#"):
            continue
        parts = line.rstrip("\r\n").split("\t")
        if len(parts) != 3:
            continue
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except ValueError:
            continue
    if not pairs:
        raise SeqlabError(f"{path}: no 'word1<TAB>word2<TAB>score' lines")
    return pairs


def word_pairs(space: VectorSpace, path: Path, dummy4unknown: bool = False) -> dict[str, Any]:
    """Spearman and Pearson correlation of the vectors' cosines with the human scores of ``path``'s pairs."""
    gold, model, oov = [], [], 0
    pairs = read_pairs(path)
    for a, b, score in pairs:
        i, j = space.lookup.get(space.key(a)), space.lookup.get(space.key(b))
        if i is None or j is None:
            oov += 1
            if dummy4unknown:
                gold.append(score)
                model.append(0.0)
            continue
        gold.append(score)
        model.append(float(space.unit[i] @ space.unit[j]))
    report: dict[str, Any] = {"file": path.name, "pairs": len(pairs), "scored": len(gold), "oov": oov,
                              "oov_ratio": 100.0 * oov / len(pairs)}
    if len(gold) < 2:
        report.update(spearman=None, pearson=None)
        return report
    g, m = np.asarray(gold), np.asarray(model)
    report.update(spearman=spearman(g, m), pearson=pearson(g, m))
    return report


# ---------------------------------------------------------------------------- analogies
def read_analogies(path: Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """``: section`` headers, then ``a b c d`` lines (word2vec's questions-words.txt layout)."""
    from seqlab.data.readers import open_text_lines

    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    for number, line in open_text_lines(path):
        if line.startswith(": "):
            sections.append((line[2:].strip(), []))
            continue
        words = line.split()
        if not words:
            continue
        if not sections:
            raise SeqlabError(f"{path}: line {number} comes before any ': section' header")
        if len(words) == 4:
            sections[-1][1].append((words[0], words[1], words[2], words[3]))
    if not any(questions for _, questions in sections):
        raise SeqlabError(f"{path}: no ': section' headers with 'a b c d' questions")
    return sections


def analogies(space: VectorSpace, path: Path, dummy4unknown: bool = False) -> dict[str, Any]:
    """3CosAdd accuracy by section and overall, with the questions out of vocabulary counted (gensim's rules)."""
    out_sections: list[dict[str, Any]] = []
    correct_all, total_all, oov_all, questions_all = 0, 0, 0, 0
    for name, questions in read_analogies(path):
        rows, answers, oov = [], [], 0
        for question in questions:
            found = [space.lookup.get(space.key(w)) for w in question]
            if any(i is None for i in found):
                oov += 1
                continue
            rows.append(found[:3])
            answers.append(found[3])
        correct = _solve(space, np.asarray(rows, dtype=np.int64).reshape(-1, 3), np.asarray(answers, dtype=np.int64))
        scored = len(rows) + (oov if dummy4unknown else 0)
        out_sections.append({"section": name, "correct": correct, "total": scored, "oov": oov,
                             "accuracy": correct / scored if scored else None})
        correct_all += correct
        total_all += scored
        oov_all += oov
        questions_all += len(questions)
    semantic = [s for s in out_sections if not s["section"].startswith("gram")]
    syntactic = [s for s in out_sections if s["section"].startswith("gram")]

    def share(parts: list[dict[str, Any]]) -> float | None:
        total = sum(p["total"] for p in parts)
        return sum(p["correct"] for p in parts) / total if total else None

    return {"file": path.name, "accuracy": correct_all / total_all if total_all else None, "correct": correct_all,
            "total": total_all, "questions": questions_all, "oov": oov_all,
            "oov_ratio": 100.0 * oov_all / max(questions_all, 1), "semantic": share(semantic),
            "syntactic": share(syntactic), "sections": out_sections}


def _solve(space: VectorSpace, abc: np.ndarray, answers: np.ndarray) -> int:
    """How many questions ``(a, b, c)`` (rows of the space) get ``answers`` as the nearest word to
    ``unit(b) - unit(a) + unit(c)``, with every case variant of ``a``, ``b`` and ``c`` excluded."""
    variants: dict[int, list[int]] = {}  # a lookup row -> its other case variants (few: most words have none)
    for row in np.flatnonzero(space.canonical != np.arange(len(space.canonical))):
        variants.setdefault(int(space.canonical[row]), []).append(int(row))
    correct = 0
    for s in range(0, len(abc), ANALOGY_CHUNK):
        part = abc[s: s + ANALOGY_CHUNK]  # (n, 3)
        query = space.unit[part[:, 1]] - space.unit[part[:, 0]] + space.unit[part[:, 2]]  # (n, D)
        scores = query @ space.unit.T  # (n, N) cosines up to each query's norm, which does not change the order
        rows = np.arange(len(part))
        for k in range(3):  # a, b and c cannot be the answer
            scores[rows, part[:, k]] = -np.inf
        if variants:
            for r, question in enumerate(part):
                for i in question:
                    scores[r, variants.get(int(i), [])] = -np.inf
        correct += int((scores.argmax(1) == answers[s: s + ANALOGY_CHUNK]).sum())
    return correct


# ---------------------------------------------------------------------------- all three
def evaluate_vectors(words: list[str], matrix: np.ndarray, *, wordsim: str | None = None, simlex: str | None = None,
                     analogy_file: str | None = None, restrict_vocab: int = RESTRICT_VOCAB,
                     case_insensitive: bool = True, dummy4unknown: bool = False) -> dict[str, Any]:
    """WordSim-353, SimLex-999 and the Google analogies (each from its given path, else from gensim's wheel; a
    file that cannot be found is left out and named in ``missing``)."""
    space = VectorSpace.build(words, matrix, restrict_vocab, case_insensitive)
    report: dict[str, Any] = {"vocabulary": len(words), "restrict_vocab": min(restrict_vocab, len(words)),
                              "dim": int(matrix.shape[1]) if matrix.ndim == 2 else 0,
                              "case_insensitive": case_insensitive, "missing": []}
    for name, given in (("wordsim353", wordsim), ("simlex999", simlex)):
        path = resolve_file(name, given)
        if path is None:
            report["missing"].append(name)
            continue
        report[name] = word_pairs(space, path, dummy4unknown)
    path = resolve_file("analogies", analogy_file)
    if path is None:
        report["missing"].append("analogies")
    else:
        report["analogies"] = analogies(space, path, dummy4unknown)
    if len(report["missing"]) == 3:
        raise SeqlabError("no evaluation file found: install gensim (pip install gensim: its wheel holds "
                          "WordSim-353, SimLex-999 and the Google analogies) or give --wordsim, --simlex, --analogies")
    return report
