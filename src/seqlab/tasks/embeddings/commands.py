"""The embeddings task's front end: ``seqlab export-vectors``, its ``evaluate`` options and report.

``seqlab evaluate EMB_DIR`` prints gensim's figures: Spearman (and Pearson) on WordSim-353 and SimLex-999 with the
pairs out of vocabulary, and analogy accuracy by section with the questions out of vocabulary.
:func:`evaluate_source` does the same for pretrained vectors (``glove-6b-50d``, a ``.txt``/``.vec`` file).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from seqlab.embedding_eval import RESTRICT_VOCAB


def add_evaluate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wordsim", metavar="PATH", default=None,
                        help="WordSim-353 pairs (word1<TAB>word2<TAB>score; default: gensim's copy)")
    parser.add_argument("--simlex", metavar="PATH", default=None, help="SimLex-999 pairs (default: gensim's copy)")
    parser.add_argument("--analogies", metavar="PATH", default=None,
                        help="analogy questions, ': section' then 'a b c d' lines (default: gensim's "
                             "questions-words.txt, the Google set)")
    parser.add_argument("--restrict-vocab", type=int, default=RESTRICT_VOCAB,
                        help=f"only the N most frequent words take part (default {RESTRICT_VOCAB:,}, gensim's)")
    parser.add_argument("--case-sensitive", action="store_true",
                        help="match words as written (default: upper-cased, as gensim does)")
    parser.add_argument("--dummy4unknown", action="store_true",
                        help="score out-of-vocabulary pairs 0 and questions wrong instead of skipping them")


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_report(report: dict[str, Any]) -> str:
    lines = [f"{report['vectors']}: {report['vocabulary']:,} words, {report['dim']}-d; the first "
             f"{report['restrict_vocab']:,} take part{', upper-cased' if report['case_insensitive'] else ''}"]
    for name, title in (("wordsim353", "WordSim-353"), ("simlex999", "SimLex-999")):
        if name in report:
            r = report[name]
            lines.append(f"{title:12s} Spearman {_number(r['spearman'])}  Pearson {_number(r['pearson'])}  "
                         f"({r['scored']} of {r['pairs']} pairs; {r['oov']} with unknown words, "
                         f"{r['oov_ratio']:.1f}%)")
    if "analogies" in report:
        r = report["analogies"]
        lines.append(f"{'analogies':12s} {_percent(r['accuracy'])} ({r['correct']:,} of {r['total']:,}; semantic "
                     f"{_percent(r['semantic'])}, syntactic {_percent(r['syntactic'])}; {r['oov']:,} of "
                     f"{r['questions']:,} questions with unknown words, {r['oov_ratio']:.1f}%)")
        for s in r["sections"]:
            lines.append(f"  {s['section']:28s} {_percent(s['accuracy']):>6s}  {s['correct']:>5,} / {s['total']:<5,}"
                         f"  oov {s['oov']}")
    if report.get("missing"):
        lines.append(f"not scored (no file: install gensim or give its flag): {', '.join(report['missing'])}")
    return "\n".join(lines)


def evaluate_source(source: str, task_options: list[str], *, as_json: bool = False) -> int:
    """``seqlab evaluate SOURCE [options]`` for pretrained vectors or a model directory: the entry the CLI's
    evaluate can hand a SOURCE that is not a model directory (``glove-6b-50d``, ``vectors.txt``)."""
    from seqlab.tasks.embeddings.predictor import evaluate, load_source

    parser = argparse.ArgumentParser(prog="seqlab evaluate (word vectors)", add_help=False)
    add_evaluate_options(parser)
    options = vars(parser.parse_args(task_options))
    report = evaluate(load_source(source), options=options)
    print(json.dumps(report, ensure_ascii=False) if as_json else format_report(report))
    return 0


# ---------------------------------------------------------------------------- seqlab export-vectors
def cmd_export_vectors(args: argparse.Namespace, _extra: dict) -> int:
    from seqlab.errors import SeqlabError
    from seqlab.tasks.embeddings.vectors import read_word_vectors, write_word2vec_text

    words, matrix = read_word_vectors(args.model_dir)
    if args.top is not None:
        if args.top < 1:
            raise SeqlabError(f"--top must be >= 1, got {args.top}")
        words, matrix = words[: args.top], matrix[: args.top]
    write_word2vec_text(args.out, words, matrix)
    print(f"wrote {len(words):,} {matrix.shape[1]}-d vectors to {args.out} (word2vec text format)", file=sys.stderr)
    return 0


def add_commands(subparsers) -> None:
    p = subparsers.add_parser("export-vectors", help="write an embeddings model's vectors in the word2vec text format",
                              description="Write the vectors of an embeddings model directory (seqlab train "
                                          "embeddings) as word2vec text: a 'V D' line, then 'word v1 ... vD', most "
                                          "frequent word first. gensim (KeyedVectors.load_word2vec_format), "
                                          "fastText and seqlab (--embeddings FILE) read it.")
    p.add_argument("model_dir")
    p.add_argument("--out", required=True, help="the file to write (e.g. vectors.txt)")
    p.add_argument("--top", type=int, default=None, help="only the N most frequent words")
    p.set_defaults(func=cmd_export_vectors)
