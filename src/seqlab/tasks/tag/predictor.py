"""Using a trained tagger: tag raw texts or pre-tokenised sentences, evaluate on a split, and the ``seqlab tag`` command.

    >>> tagger = seqlab.load("runs/ner")  # doctest: +SKIP
    >>> tagger.tag(["EU rejects German call to boycott British lamb ."])  # doctest: +SKIP
    [{'entities': [{'type': 'ORG', 'text': 'EU', 'start': 0, 'end': 2, 'confidence': 0.99}, ...],
      'tokens': ['EU', 'rejects', ...], 'tags': ['I-ORG', 'O', 'I-MISC', ...]}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.data.conll import TaggedSentences, load_split, read_conll
from seqlab.data.splits import scored_part
from seqlab.errors import SeqlabError
from seqlab.inference import Predictor, timed, with_valid_metric
from seqlab.metrics import span_report
from seqlab.modeldir import read_json
from seqlab.runtime import Timer
from seqlab.tasks.tag import DEFAULT_BATCH
from seqlab.tasks.tag.recipe import (
    EVAL_BATCH,
    HF_FOLDER,
    SCHEMA,
    TEXT_FILE,
    TagConfig,
    TagVocab,
    build_model,
    load_train_valid,
    make_features,
    predict_items,
    reads_pretrained_text,
    to_scheme,
)
from seqlab.tasks.tag.words import TaggingMethods
from seqlab.text.tagging import OUTSIDE, normalize_scheme, split_tag


class Tagger(Predictor, TaggingMethods):
    """A loaded sequence tagger: ``tag`` raw texts, ``tag_tokens`` pre-tokenised sentences."""

    task = "tag"
    schema = SCHEMA
    config: TagConfig

    def __init__(self, model_dir: Path, device: str = "cpu", precision: str = "fp32") -> None:
        super().__init__(model_dir, device, precision)
        self.vocab = TagVocab.from_json(read_json(self.model_dir, TEXT_FILE))
        hf = str(self.model_dir / HF_FOLDER) if reads_pretrained_text(self.config) else None
        self.features = make_features(self.config, self.vocab, hf)
        self.model = self.restore(build_model(self.config, self.vocab, hf_config_dir=hf))

    # -- prediction
    def predict(self, sentences: list[list[str]], batch_size: int = DEFAULT_BATCH,
                confidences: bool = True) -> tuple[list[list[str]], list[list[float]] | None]:
        """Each sentence's model tags (BIOES for entities) and, when asked, each tag's confidence."""
        items = self.features.encode(sentences)
        ids, conf = predict_items(self.model, self.features, items, self.device, confidences=confidences,
                                  batch_size=batch_size, autocast=self.autocast)
        return [[self.labels[i] for i in sent] for sent in ids], conf


def load(model_dir: Path, device: str = "cpu", precision: str = "fp32") -> Tagger:
    return Tagger(model_dir, device=device, precision=precision)




def eval_split(predictor: Tagger, data: str, split: str, options: dict[str, Any],
               log=print) -> tuple[TaggedSentences, str]:
    """The sentences to score and the name of what they are. A single file is read whole (``"whole"``) unless it
    is the model's own training file and ``split`` is train or valid: then exactly the part training used (the
    seeded carve-out, ``--valid-data``, ``--limit``); a dataset or folder gives its split. Scoring what training
    learnt from is said with a warning through ``log``."""
    from dataclasses import replace

    cfg = predictor.config.data
    word_column = options.get("word_column")
    tag_column = options.get("tag_column") or cfg.tag_column
    word_column = cfg.word_column if word_column is None else word_column
    scheme = normalize_scheme(options["scheme"]) if options.get("scheme") else None
    path = Path(data).expanduser()
    same = replace(cfg, data=data, tag_column=tag_column, word_column=word_column, scheme=scheme or cfg.scheme)
    return scored_part(data, split, cfg.data, "sentences", train_valid=lambda: load_train_valid(same),  # --limit too
                       whole=(lambda: read_conll(path, word_column, tag_column, scheme)) if path.is_file() else None,
                       split_of=lambda name: load_split(data, name, word_column, tag_column, scheme), log=log)

def evaluate(predictor: Tagger, *, data: str, split: str = "test", options: dict[str, Any] | None = None,
             log=print) -> dict[str, Any]:
    """Entity precision/recall/F1 per type and micro-averaged as ``conlleval`` counts (token accuracy and the
    per-type confusion too), or token accuracy for plain tags."""
    options = options or {}
    gold, split = eval_split(predictor, data, split, options, log)
    scheme = gold.scheme or predictor.scheme
    if (scheme == "none") != (predictor.scheme == "none"):
        what = "plain tags (scheme none)" if predictor.scheme == "none" else f"entity tags ({predictor.scheme})"
        raise SeqlabError(f"the model predicts {what}, but the tags of {data} read as {scheme}; "
                          "choose the column with --tag-column (or the scheme with --scheme)")
    with Timer() as timer:
        labels, _ = predictor.predict(gold.words, batch_size=options.get("batch_size") or EVAL_BATCH, confidences=False)
    pred = [to_scheme(tags, scheme) for tags in labels]
    report = span_report(gold.tags, pred, scheme)
    report.update({"data": data, "split": split, "sentences": len(gold), "model_scheme": predictor.scheme})
    timed(report, timer, len(gold), "sentences")
    unknown = sorted(_kinds(gold.tags, scheme) - _kinds([predictor.labels], predictor.scheme))
    if unknown:
        report["tags_the_model_does_not_know"] = unknown
    return with_valid_metric(report, predictor, "f1")


def _kinds(tags: list[list[str]], scheme: str) -> set[str]:
    """Entity types (plain tags for scheme none) among ``tags``."""
    if scheme == "none":
        return {t for sent in tags for t in sent}
    return {split_tag(t)[1] for sent in tags for t in sent if t != OUTSIDE}
