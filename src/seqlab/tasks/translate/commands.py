"""The translator's front end: the ``seqlab translate`` command (attention heatmaps and pages), its ``evaluate``
option and report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqlab.errors import SeqlabError
from seqlab.text.subword import display_token

if TYPE_CHECKING:  # the predictor imports torch; building the CLI must not
    from seqlab.tasks.translate.predictor import Translator


# ---------------------------------------------------------------------------- the ``seqlab translate`` command
def cmd_translate(args, _extra: dict) -> int:
    """Translate the texts and print them, a window of the input at a time (``--file BIG`` runs in the memory of
    one window, in input order); ``--attention`` draws every sentence, so it reads them all first."""
    from seqlab.commandline import input_windows, load_for_command, read_inputs
    model = load_for_command(args, "translate", "translate")
    for texts in ([read_inputs(args)] if args.attention else input_windows(args, args.window)):
        results = model.translate_detailed(texts, beam=args.beam, nbest=args.nbest,
                                           length_penalty=args.length_penalty, max_len_ratio=args.max_len_ratio,
                                           replace_unk=args.unk_replace, batch_size=args.batch_size)
        for text, r in zip(texts, results, strict=True):
            if args.json:
                print(json.dumps({"source": text, "translation": r["translation"], "score": r["score"],
                                  "normalized_score": r["normalized_score"], "nbest": r["nbest"]},
                                 ensure_ascii=False))
            elif args.nbest > 1:
                for rank, h in enumerate(r["nbest"], 1):
                    print(f"{rank}\t{h['normalized_score']:.4f}\t{h['translation']}")
            else:
                print(r["translation"])
        if args.attention:
            written = write_attention(model, texts, results, Path(args.attention), args.layer, args.head)
            print(f"attention written to {', '.join(map(str, written))}", file=sys.stderr)
    return 0


def write_attention(model: Translator, texts: list[str], results: list[dict[str, Any]], path: Path,
                    layer: int | None, head: int | None) -> list[Path]:
    from seqlab.attention_view import attention_html, heatmap_png, map_choices, select_map

    suffix = path.suffix.lower()
    if suffix not in (".png", ".html", ".htm"):
        raise SeqlabError(f"--attention {path}: write a .png heatmap or an .html page")
    sentences = []
    for text, r in zip(texts, results, strict=True):
        src_tokens, tgt_tokens, maps = model.attention_maps(text, r["tgt_ids"])
        sentences.append({"input": text, "translation": r["translation"], "source": src_tokens,
                          "target": tgt_tokens, "maps": maps})
    if suffix == ".png":
        paths = [path] if len(sentences) == 1 else [path.with_name(f"{path.stem}-{i}{path.suffix}")
                                                    for i in range(1, len(sentences) + 1)]
        for p, s in zip(paths, sentences, strict=True):
            weights, label = select_map(s["maps"], layer, head)
            heatmap_png([display_token(t) for t in s["source"]], [display_token(t) for t in s["target"]],
                        weights, p, title=f"{s['translation']}\n({label})")
        return paths
    attention_html([{"input": s["input"], "translation": s["translation"],
                     "source": [display_token(t) for t in s["source"]],
                     "target": [display_token(t) for t in s["target"]],
                     "maps": map_choices(s["maps"]), "default": select_map(s["maps"], layer, head)[1]}
                    for s in sentences], path, title=f"seqlab attention: {model.model_dir.name}")
    return [path]


WINDOW_HELP = ("texts read from --file or standard input, run and written at a time (default 16,384): the "
               "memory a big input needs")


def add_commands(subparsers) -> None:
    from seqlab.commandline import add_runtime_options, options_among_texts

    p = subparsers.add_parser("translate", help="translate sentences (arguments, --file, or standard input)")
    p.add_argument("model_dir")
    p.add_argument("texts", nargs="*")
    p.add_argument("--file", default=None, help="one sentence per line")
    p.add_argument("--beam", type=int, default=None, help="beam size (default: the model's, 1 = greedy)")
    p.add_argument("--nbest", type=int, default=1, help="show the n best translations (needs --beam >= n)")
    p.add_argument("--length-penalty", type=float, default=None, help="GNMT alpha (default: the model's)")
    p.add_argument("--max-len-ratio", type=float, default=None, help="at most ratio x source length (+ extra)")
    p.add_argument("--unk-replace", action="store_true", help="copy the most-attended source piece for <unk>")
    p.add_argument("--json", action="store_true", help="JSON lines with scores and the n best")
    p.add_argument("--attention", default=None, metavar="OUT.png|OUT.html",
                   help="heatmap (png) or an interactive page (html) of the cross-attention")
    p.add_argument("--layer", type=int, default=None, help="transformer layer to show (1..L; default the last)")
    p.add_argument("--head", type=int, default=None, help="head to show (1..h; default the average of the heads)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--window", type=int, default=None, metavar="N", help=WINDOW_HELP)
    add_runtime_options(p)
    p.set_defaults(func=cmd_translate)
    options_among_texts(p)


def add_evaluate_options(parser) -> None:
    parser.add_argument("--beam", type=int, default=None, help="beam size (default: the model's; 1 is greedy)")


def format_report(report: dict[str, Any]) -> str:
    from seqlab.data.splits import scored_line

    scored = scored_line(report["data"], report["split"], report["pairs"], "pairs")
    lines = [f"BLEU {report['bleu']:.2f}   chrF {report['chrf']:.2f}   perplexity {report['perplexity']:.2f}   "
             f"({scored}, beam {report['beam']}, "
             f"{report['sentences_per_s']:.1f} sentences/s)", f"sacreBLEU {report['signature']}"]
    if "valid_perplexity" in report:
        lines.append(f"validation perplexity at the best checkpoint: {report['valid_perplexity']:.2f}")
    return "\n".join(lines)
