"""Sequence tagging: CoNLL column files -> words, case patterns, characters -> BiLSTM(-CRF) -> tags and entity spans.

CPU (CoNLL-2003 NER; the defaults are the benchmark recipe, 30-minute budget included)::

    SEQLAB_DATA=../shared/data seqlab train tag --data conll2003 --out runs/ner
    seqlab evaluate runs/ner --data conll2003 --split dev
    seqlab tag runs/ner "EU rejects German call to boycott British lamb ."

Part of speech or chunks: ``--tag-column pos`` / ``--tag-column chunk``. Your own files:
``--data train.conll --valid-data dev.conll --tag-column 3`` (or a folder with ``train``/``dev``
files; a single file gets validation sentences carved out with a fixed seed). One GPU: add
``--device cuda``. Softmax instead of a CRF: ``--model bilstm``; no character features: ``--char none``;
a fine-tuned MiniLM: ``--model pretrained`` (``seqlab[hf]``).

Tags are read in the scheme they are written in (``--scheme``, detected where the tags decide it:
CoNLL-2003 is IOB1), converted to BIOES for training (it trains best per NCRF++'s measurements, Yang
et al. 2018), with the CRF's forbidden transitions taken from that label set, and predictions are
written back in the data's own scheme. Part-of-speech tags are plain (scheme ``none``): every
transition is allowed and they are scored by token accuracy; entity and chunk tags by span F1 as
``conlleval`` counts.

Words are looked up lower-cased (their case comes back through a case-pattern embedding and the
characters). The vocabulary is every training word, initialised from the vectors (GloVe by
default) and trained; words that only the vectors know are kept as fixed rows after them, so a
word never seen in training still has its pretrained vector when tagging.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seqlab.data.batching import bucket_batches
from seqlab.data.conll import TaggedSentences
from seqlab.errors import SeqlabError
from seqlab.inference import bucketed_map
from seqlab.metrics import span_report
from seqlab.modeldir import save_model_dir
from seqlab.models.embeddings import FixedVectorsEmbedding
from seqlab.models.pretrained_tagger import PretrainedTagger, SubwordFeatures
from seqlab.models.tagger import BiLSTMTagger
from seqlab.runtime import pick_device
from seqlab.tasks.common import cached_encoding, fit_task, resumed_json
from seqlab.tasks.tag.config import (  # noqa: F401  (re-exported)
    SCHEMA,
    TAGGERS,
    SoftmaxTaggerConfig,
    TagConfig,
    TagDataConfig,
    TagVectorsConfig,
)
from seqlab.tasks.tag.data import load_train_valid, read_split  # noqa: F401  (re-exported)
from seqlab.tasks.tag.words import INTERNAL_SCHEME, TEXT_FILE, TagVocab, WordFeatures, to_internal, to_scheme  # noqa: F401
from seqlab.text.tagging import OUTSIDE, allowed_transitions, split_tag
from seqlab.text.vocab import PAD, UNK
from seqlab.train import TrainableTask

HF_FOLDER = "hf"
DEFAULT_SCHEME = "bio"  # when the tags do not tell their scheme (e.g. only single-token entities after O)
EVAL_BATCH = 256  # sentences per batch when validating and tagging


def model_input(config: TagConfig) -> str:
    return TAGGERS[config.model_name][1]


def reads_pretrained_text(config: TagConfig) -> bool:
    """Whether the tagger reads words through a pretrained encoder's sub-word tokenizer (saved in ``hf/``) rather
    than seqlab's word, case and character features (declared by the model's config)."""
    return config.model.capabilities().text == "pretrained"


# ---------------------------------------------------------------------------- data
def resolve_scheme(cfg: TagDataConfig, parts: list[TaggedSentences], log=print) -> str:
    """The given scheme, else the one the tags show (train and validation must agree), else bio."""
    given = cfg.given_scheme()
    if given is not None:
        return given
    _refuse_stray_plain_tag([p for p in parts if p.scheme == "none"])
    found = {p.scheme for p in parts if p.scheme is not None}
    if len(found) > 1:
        raise SeqlabError(f"the training and validation tags read as different schemes ({', '.join(sorted(found))}); "
                          "give the scheme with --scheme")
    if found:
        return found.pop()
    log(f"note: the tags do not tell their scheme (no entity only one scheme allows); reading them as "
        f"{DEFAULT_SCHEME} (give --scheme iob1 or bioes if they are)")
    return DEFAULT_SCHEME


def _refuse_stray_plain_tag(parts: list[TaggedSentences]) -> None:
    """Entity tags with a stray plain one (a typo such as ``PER``) would be read as plain tags: say where it is."""
    distinct = {t for data in parts for sent in data.tags for t in sent}
    entity_like = {t for t in distinct if t == OUTSIDE or (split_tag(t)[0] in "BIES" and split_tag(t)[1])}
    if OUTSIDE not in distinct or len(entity_like) < 2 or len(entity_like) * 2 < len(distinct):
        return
    for data in parts:
        for i, sent in enumerate(data.tags):
            for j, tag in enumerate(sent):
                if tag not in entity_like:
                    where = (f"{data.source.split('#')[0]}: line {data.lines[i] + j}" if data.lines
                             else f"{data.source}: sentence {i + 1}")
                    raise SeqlabError(f"{where}: tag {tag!r} is not an entity tag (O, B-TYPE, I-TYPE, ...) although "
                                      "the other tags are; correct it, or give --scheme none to read every tag as a "
                                      "plain tag")


def label_set(tags: list[list[str]], scheme: str) -> list[str]:
    """The model's tags: O and B/I/E/S of every entity type seen (all four, so any span can be written), or the
    plain tags seen."""
    if scheme == "none":
        return sorted({t for sent in tags for t in sent})
    types = sorted({split_tag(t)[1] for sent in tags for t in sent if t != OUTSIDE})
    return [OUTSIDE, *[f"{prefix}-{kind}" for kind in types for prefix in "BIES"]]


def constraints(labels: list[str], scheme: str):
    """The transitions a CRF may take over ``labels`` (None: all, for plain tags)."""
    return None if scheme == "none" else allowed_transitions(labels, INTERNAL_SCHEME)


# ---------------------------------------------------------------------------- vocabulary and word features
def build_vocab(train: TaggedSentences, labels: list[str], scheme: str, vector_words: list[str],
                extra_limit: int | None) -> tuple[TagVocab, Counter]:
    counts = Counter(w.lower() for sent in train.words for w in sent)
    for special in (PAD, UNK):
        counts.pop(special, None)
    words = [PAD, UNK, *sorted(counts, key=lambda w: (-counts[w], w))]
    char_counts = Counter(c for sent in train.words for w in sent for c in w)
    chars = [PAD, UNK, *sorted((c for c in char_counts if c not in (PAD, UNK)), key=lambda c: (-char_counts[c], c))]
    known, extra = set(words), []  # type: tuple[set[str], list[str]]
    limit = len(vector_words) if extra_limit is None else extra_limit
    for word in vector_words:  # vectors files list the most frequent words first
        if len(extra) >= limit:
            break
        if word not in known:
            extra.append(word)
            known.add(word)
    return TagVocab(words, extra, chars, labels, scheme), counts


def build_model(config: TagConfig, vocab: TagVocab, hf_config_dir: str | None = None) -> nn.Module:
    """The tagger of ``config.model_name`` over ``vocab``'s words and labels (untrained)."""
    if reads_pretrained_text(config):
        return PretrainedTagger(config.model, len(vocab.labels), constraints(vocab.labels, vocab.scheme), hf_config_dir)
    model = BiLSTMTagger(config.model, len(vocab.words), len(vocab.labels), pad_id=vocab.word_index[PAD],
                         char_vocab_size=len(vocab.chars), char_pad_id=vocab.char_index[PAD],
                         constraints=constraints(vocab.labels, vocab.scheme))
    if vocab.extra:  # words only the vectors know: fixed rows after the trained ones
        model.word_embedding = FixedVectorsEmbedding(model.word_embedding, len(vocab.extra))  # type: ignore[assignment]
    return model


def trained_embedding(model: Any) -> nn.Embedding:
    """The trained part of a tagger's word embedding."""
    emb = model.word_embedding
    return emb.trained if isinstance(emb, FixedVectorsEmbedding) else emb


def make_features(config: TagConfig, vocab: TagVocab, hf_folder: str | None = None) -> Any:
    if reads_pretrained_text(config):
        return SubwordFeatures(hf_folder or config.model.encoder, config.model.max_subtokens)
    return WordFeatures(vocab)


# ---------------------------------------------------------------------------- decoding
def predict_items(model: Any, features: Any, items: list[Any], device: torch.device, *,
                  confidences: bool = False, batch_size: int = EVAL_BATCH, autocast=None
                  ) -> tuple[list[list[int]], list[list[float]] | None]:
    """Decode encoded sentences in length-bucketed batches; results in input order."""
    model.eval()

    def run(batch: list[int]) -> list[tuple[list[int], list[float]]]:  # (tag ids, confidences) per sentence
        with autocast() if autocast else contextlib.nullcontext():
            out_tags, out_conf = model.decode(features.batch([items[i] for i in batch]).to(device), confidences)
        return list(zip(out_tags, out_conf if out_conf is not None else [[] for _ in batch], strict=True))

    results = bucketed_map(run, [features.length(i) for i in items], batch_size)
    return [t for t, _ in results], [c for _, c in results] if confidences else None


# ---------------------------------------------------------------------------- encoding, cached
def _vectors_key(source: str | None) -> str | None:
    if source is None:
        return None
    path = Path(source).expanduser()
    if path.is_file():
        from seqlab.data.cache import fingerprint

        return f"{path.resolve()}@{fingerprint(path)}"
    return source


def encode_splits(splits: dict[str, TaggedSentences], config: TagConfig, scheme: str, vectors: Any,
                  fixed: dict[str, Any] | None) -> tuple[TagVocab, dict[str, list[Any]], dict[str, Any]]:
    """The vocabulary (built on the training split, or ``fixed`` when resuming) and every split encoded, cached."""
    pretrained = reads_pretrained_text(config)
    key = {"kind": "tag", "version": 1, "input": "subwords" if pretrained else "words", "scheme": scheme,
           "encoder": config.model.encoder if pretrained else None,
           "max_subtokens": config.model.max_subtokens if pretrained else None,
           "vectors": _vectors_key(config.vectors.embeddings) if not pretrained else None,
           "extra_vectors": config.vectors.extra_vectors,
           "sources": {s: d.source for s, d in splits.items()},
           "fixed": hashlib.sha256(json.dumps(fixed, sort_keys=True).encode()).hexdigest() if fixed else None}

    def compute():
        labels = label_set([to_internal(t, scheme) for t in splits["train"].tags], scheme)
        vector_words = _lowercase_unique(vectors.words) if vectors is not None and not pretrained else []
        vocab, counts = build_vocab(splits["train"], labels, scheme, vector_words, config.vectors.extra_vectors)
        if pretrained:  # the encoder's own tokenizer reads the words
            vocab = TagVocab([PAD, UNK], [], [PAD, UNK], labels, scheme)
        if fixed:  # resuming: the ids the checkpoint was trained with
            vocab = TagVocab.from_json(fixed)
        features = make_features(config, vocab)
        named: dict[str, list] = {}
        for split, data in splits.items():
            for name, seqs in features.to_arrays(features.encode(data.words)).items():
                named[f"{split}.{name}"] = seqs
        unknown = sorted({t for sent in splits["train"].tags for t in to_internal(sent, scheme)} - set(vocab.labels))
        if unknown:  # resuming on other data
            raise SeqlabError(f"the training data has tags the model being resumed does not know: {', '.join(unknown[:5])}")
        named["train.tags"] = [[vocab.label_index[t] for t in to_internal(sent, scheme)] for sent in splits["train"].tags]
        # singletons without a vector: the words training reads as <unk> now and then
        with_vector = set(vector_words)
        rare = [i for i, w in enumerate(vocab.words) if counts.get(w) == 1 and w not in with_vector]
        return named, {"vocab": vocab.to_json(), "rare": rare}

    arrays, meta = cached_encoding(key, compute)
    vocab = TagVocab.from_json(meta["vocab"])
    features = make_features(config, vocab)
    items = {s: features.from_arrays({n: arrays[f"{s}.{n}"] for n in features.names}) for s in splits}
    items["train.tags"] = [t.tolist() for t in arrays["train.tags"]]
    return vocab, items, meta


def _lowercase_unique(words: list[str]) -> list[str]:
    """Vector words lower-cased, each once (its most frequent form's place), in the file's order."""
    seen: set[str] = set()
    out = []
    for w in words:
        lw = w.lower()
        if lw not in seen:
            seen.add(lw)
            out.append(lw)
    return out


def init_vectors(model: Any, vocab: TagVocab, vectors: Any, freeze: bool) -> dict[str, Any]:
    """Copy pretrained rows into the trained embedding (training words found) and the fixed rows (the rest)."""
    index: dict[str, int] = {}
    for i, w in enumerate(vectors.words):
        index.setdefault(w.lower(), i)
    emb = trained_embedding(model)
    rows = [(i, index[w]) for i, w in enumerate(vocab.words) if w not in (PAD, UNK) and w in index]
    with torch.no_grad():
        if rows:
            emb.weight[torch.tensor([r for r, _ in rows])] = torch.from_numpy(
                vectors.matrix[[j for _, j in rows]]).to(emb.weight.dtype)
        if vocab.extra:
            model.word_embedding.extra.copy_(torch.from_numpy(vectors.matrix[[index[w] for w in vocab.extra]]))
    emb.weight.requires_grad_(not freeze)
    words = len(vocab.words) - 2
    return {"found": len(rows), "vocab": words, "coverage": len(rows) / max(1, words), "extra": len(vocab.extra)}


EXTRA_PER_TRAINING_WORD = 20  # fixed vector rows an unset --extra-vectors keeps per distinct training word ...
MIN_EXTRA_VECTORS = 1_000  # ... and at least this many (CoNLL-2003's 21,009 words keep all of GloVe's 400,000)


def extra_vectors_for(train: TaggedSentences, vectors: Any, log=print) -> int:
    """How many words only the vectors know to keep as fixed rows, when ``--extra-vectors`` is not set: sized
    from the training data, so a small file does not carry every GloVe word (its own words' rows always come
    from the vectors). Recorded in the config, so the saved config rebuilds the same vocabulary."""
    words = len({w.lower() for sent in train.words for w in sent})
    chosen = min(len(vectors.words), max(MIN_EXTRA_VECTORS, EXTRA_PER_TRAINING_WORD * words))
    if chosen < len(vectors.words):
        log(f"extra vectors: keeping the {chosen:,} most frequent of {len(vectors.words):,} vector words as fixed "
            f"rows ({EXTRA_PER_TRAINING_WORD} per training word; --extra-vectors sets it)")
    return chosen


# ---------------------------------------------------------------------------- training task
class TagTask(TrainableTask):
    default_metric = "f1"  # span micro-F1; for plain tags (scheme none) it equals the token accuracy
    metric_modes = {"f1": "max", "accuracy": "max", "precision": "max", "recall": "max"}

    def __init__(self, config: TagConfig, log=print, fixed_vocab: dict[str, Any] | None = None) -> None:
        self.config, self.log = config, log
        started = time.monotonic()
        train, valid = load_train_valid(config.data)
        self.scheme = resolve_scheme(config.data, [train, valid], log)
        self.valid_gold = valid.tags
        pretrained = reads_pretrained_text(config)
        vectors = None
        if not pretrained and config.vectors.embeddings:
            from seqlab.models.embeddings import load_vectors

            vectors = load_vectors(config.vectors.embeddings)
            if vectors.dim != config.model.emb_size:
                log(f"setting emb_size to {vectors.dim} to match {config.vectors.embeddings}")
                config.model = dataclasses.replace(config.model, emb_size=vectors.dim)
        elif pretrained and config.vectors.embeddings and config.vectors.embeddings != "glove-6b-50d":
            raise SeqlabError("--embeddings does not apply to --model pretrained (it has its own)")
        if vectors is not None and config.vectors.extra_vectors is None:
            config.vectors = dataclasses.replace(config.vectors, extra_vectors=extra_vectors_for(train, vectors, log))
        self.vocab, items, meta = encode_splits({"train": train, "valid": valid}, config, self.scheme, vectors, fixed_vocab)
        self.features = make_features(config, self.vocab)
        self.train_items, self.valid_items, self.train_tags = items["train"], items["valid"], items["train.tags"]
        self.lengths = np.array([self.features.length(i) for i in self.train_items])
        torch.manual_seed(config.train.seed)
        self.model: Any = build_model(config, self.vocab)
        self.coverage = None
        if vectors is not None:
            self.coverage = {**init_vectors(self.model, self.vocab, vectors, config.vectors.freeze_embeddings),
                             "vectors": config.vectors.embeddings}
        self.device = pick_device(config.train.device)
        self.rare = None  # (V,) True for training words read as <unk> now and then
        if not pretrained and config.vectors.singleton_unk > 0:
            self.rare = torch.zeros(len(self.vocab.words), dtype=torch.bool)
            self.rare[torch.tensor(meta["rare"], dtype=torch.long)] = True
            self.rare = self.rare.to(self.device)
        valid_ids = [i for item in self.valid_items for i in item[0]] if not pretrained else []
        oov = sum(i == self.vocab.unk_id for i in valid_ids)
        fixed_rows = sum(i >= len(self.vocab.words) for i in valid_ids)
        entities = Counter() if self.scheme == "none" else Counter(
            split_tag(t)[1] for sent in self.train_tags for t in (self.vocab.labels[i] for i in sent) if t[:2] in ("B-", "S-"))
        self.stats = {"train_sentences": len(train), "valid_sentences": len(valid), "train_tokens": train.num_tokens,
                      "valid_tokens": valid.num_tokens, "scheme": self.scheme, "labels": len(self.vocab.labels),
                      "train_entities": dict(sorted(entities.items())), "words": len(self.vocab.words),
                      "extra_vector_words": len(self.vocab.extra), "chars": len(self.vocab.chars),
                      "valid_tokens_unknown": oov, "valid_tokens_fixed_vectors": fixed_rows}
        n_params = sum(p.numel() for p in self.model.parameters())
        log(f"data: {len(train):,} train / {len(valid):,} valid sentences ({train.num_tokens:,} / {valid.num_tokens:,} "
            f"tokens); tags in {self.scheme}"
            + (f", trained as {INTERNAL_SCHEME}" if self.scheme != "none" else "")
            + f" ({len(self.vocab.labels)} labels); prepared in {time.monotonic() - started:.1f}s")
        if not pretrained:
            log(f"vocabulary: {len(self.vocab.words):,} training words + {len(self.vocab.extra):,} fixed vector rows, "
                f"{len(self.vocab.chars):,} characters; validation tokens: {fixed_rows:,} read from fixed vector rows, "
                f"{oov:,} unknown")
        if self.coverage:
            log(f"embeddings: {self.coverage['found']:,} of {self.coverage['vocab']:,} training words found in "
                f"{config.vectors.embeddings} ({self.coverage['coverage']:.1%})")
        log(f"model: {config.model_name} with {n_params:,} trained parameters")

    # -- the TrainableTask interface
    def train_batches(self, generator: torch.Generator) -> list[list[int]]:
        t = self.config.train
        return bucket_batches(self.lengths, batch_size=t.batch_size, max_tokens=t.max_tokens, shuffle=True,
                              generator=generator)

    def loss(self, batch: list[int]) -> tuple[torch.Tensor, int]:
        data = self.features.batch([self.train_items[i] for i in batch], [self.train_tags[i] for i in batch])
        data = data.to(self.device)
        if self.rare is not None:  # singletons without a vector read as <unk> now and then (Lample et al. 2016)
            drop = self.rare[data.words] & (torch.rand(data.words.shape, device=self.device)
                                            < self.config.vectors.singleton_unk)
            data.words = data.words.masked_fill(drop, self.vocab.unk_id)
        return self.model.loss(data), len(batch)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        tags, _ = predict_items(self.model, self.features, self.valid_items, self.device)
        pred = [to_scheme([self.vocab.labels[i] for i in sent], self.scheme) for sent in tags]
        report = span_report(self.valid_gold, pred, self.scheme)
        return {k: report[k] for k in ("f1", "precision", "recall", "accuracy")}

    def save(self, out_dir: Path, metrics: dict[str, Any]) -> None:
        json_files = {TEXT_FILE: self.vocab.to_json()}
        if reads_pretrained_text(self.config):
            folder = Path(out_dir) / HF_FOLDER
            self.features.tokenizer.save_pretrained(str(folder))
            self.model.save_encoder_files(folder)
        save_model_dir(out_dir, task="tag", config=SCHEMA.to_dict(self.config), state_dict=self.model.state_dict(),
                       extras={"scheme": self.scheme, "labels": self.vocab.labels, "embeddings": self.coverage,
                               "data_stats": self.stats},
                       json_files=json_files, metrics=metrics)


def train(config: TagConfig, out_dir: Path, *, resume: bool = False, log=print) -> dict[str, Any]:
    task = TagTask(config, log, fixed_vocab=resumed_json(out_dir, TEXT_FILE, resume))
    return fit_task(task, config, SCHEMA, out_dir, resume=resume, log=log)
