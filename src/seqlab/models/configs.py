"""Every model's config dataclass, its RECIPE (the benchmark's settings of the other config sections, which are
the defaults) and the :class:`Capabilities` it declares: torch-free, like Hugging Face's ``configuration_*.py``
beside ``modeling_*.py``, so a task's config schema (``seqlab train TASK --help``, a bad flag) is read without
importing torch. Each model's file imports its config from here and re-exports it (``from seqlab.models.bag import
BagConfig`` works as before).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from seqlab.config import at_least, choices, divides, positive, probability, require
from seqlab.errors import SeqlabError


# ---------------------------------------------------- capabilities (seqlab.models.base)
@dataclass(frozen=True)
class Capabilities:
    """What a task may ask of a model, declared by its config (``config.capabilities()``).

    Tasks read these instead of probing a model's name or attributes, so a new model states each answer once
    and cannot silently miss a hook (the role of Hugging Face's ``PreTrainedModel`` class attributes).
    """

    # "words": seqlab's tokenizer and vocabulary (text.json); "pretrained": the encoder's own tokenizer and
    # files, saved beside the weights (hf/)
    text: str = "words"
    # the config field that sets the width of the input word vectors (pretrained vectors set it), and a field
    # that must divide that width (attention heads); None: no word-vector table to initialise
    vector_width: str | None = None
    vector_width_divisor: str | None = None
    # why --embeddings does not apply (vector_width None): it ends "--embeddings does not apply to --model NAME"
    no_vectors_reason: str = "(it has no word-vector table)"
    attention_pooling: bool = False  # pools its outputs with attention weights over the tokens (shown as such)
    # seq2seq: the share of gold previous words it ends training with under scheduled sampling (Bengio et al.
    # 2015); None: it always trains on the gold previous words (--tf-schedule does not apply)
    teacher_forcing: float | None = None
    # a hashed n-gram table whose size the training data decides (the bag with --buckets unset)
    sizes_table_from_data: bool = False
    # an input embedding table with one row per vocabulary token (words or sub-word pieces), which
    # ``seqlab vectors MODEL_DIR`` reads as the model's learned word space
    input_table: bool = False
    # what the model's one vector of a text is, in words ("attention-pooled gru states"): ``seqlab embed`` and
    # ``POST /v1/models/{name}/embed`` return it; None: the model has none
    text_vector: str | None = None


# ---------------------------------------------------- bag (seqlab.models.bag)
WEIGHTINGS = ("mean", "nb")
MAX_BUCKETS = 4_000_000  # the IMDB recipe's hash table: the most an unset --buckets grows to


# The IMDB benchmark's training settings (benchmarks/RESULTS.md): with the config defaults below,
# `seqlab train classify --data imdb` trains exactly this. Two sentence crops per review and the mean GloVe vector
# beside the n-grams are for texts unlike IMDB's (issue 21, benchmarks/RESULTS.md "Out-of-domain probes"): on the
# tweets-airline set macro-F1 0.58 -> 0.67 and balanced accuracy 0.72 -> 0.77, IMDB validation 92.1 -> 92.2%.
BAG_RECIPE: dict[str, dict[str, Any]] = {"text": {"max_len": 3000}, "augment": {"crops": 2},
          "vectors": {"embeddings": "glove-6b-50d"},
          "train": {"lr": 0.003, "schedule": "linear", "batch_size": 32, "epochs": 2}}


@dataclass
class BagConfig:
    emb_size: int = field(default=32, metadata={"help": "embedding size"})
    ngrams: int = field(default=3, metadata={"help": "bag model: use word n-grams up to this order (1 = words only)"})
    buckets: int | None = field(default=None, metadata={
        "help": "bag model: hash buckets for n-grams (default: sized from the training data, a power of two above "
                "4 per distinct n-gram, at most 4,000,000: IMDB's recipe)"})
    dropout: float = field(default=0.0, metadata={"help": "dropout"})
    token_dropout: float = field(default=0.0, metadata={
        "help": "bag model: drop each word/n-gram of a text with this probability while training (word dropout)"})
    weighting: str = field(default="nb", metadata={
        "help": "bag model: mean (fastText: averaged learned embeddings) | nb (NBSVM-style: binarised features "
                "scaled by Naive-Bayes log-count ratios, a linear model; --emb-size and --dropout unused)",
        "choices": list(WEIGHTINGS)})
    nb_alpha: float = field(default=1.0, metadata={"help": "bag model, nb weighting: smoothing count of the ratios"})
    vector_features: int = field(default=0, metadata={
        "help": "bag model, nb weighting: the width of the fixed pretrained word vectors (--embeddings) whose mean "
                "over a text is a second set of features beside the n-grams (set from --embeddings; 0: none)"})

    def capabilities(self) -> Capabilities:
        sized = self.buckets is None and self.ngrams > 1
        if self.weighting == "nb":  # pretrained vectors, if given, are averaged as extra features (fixed)
            return Capabilities(vector_width="vector_features", sizes_table_from_data=sized)
        return Capabilities(vector_width="emb_size", sizes_table_from_data=sized, input_table=True,
                            text_vector="the mean of its word and n-gram vectors (what its output layer reads)")

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "emb_size", "ngrams", "buckets")
        at_least(self, 0, "vector_features")
        probability(self, "dropout", "token_dropout")
        positive(self, "nb_alpha")
        if self.vector_features and self.weighting != "nb":
            raise SeqlabError("--vector-features is for --weighting nb (a mean-weighted bag learns its vectors: "
                              "--embeddings initialises them)")


# ---------------------------------------------------- rnn classifier (seqlab.models.rnn_classifier)
# The IMDB benchmark's settings (benchmarks/RESULTS.md: bi-GRU with attention pooling over GloVe, 90.7%).
RNN_CLASSIFIER_RECIPE: dict[str, dict[str, Any]] = {"vectors": {"embeddings": "glove-6b-50d"}, "text": {"max_len": 400},
          "train": {"lr": 0.002, "batch_size": 64, "epochs": 5, "patience": 2, "max_time": 30}}


@dataclass
class RNNConfig:
    emb_size: int = field(default=100, metadata={"help": "embedding size (50 with glove-6b-50d)"})
    hidden_size: int = field(default=128, metadata={"help": "hidden size per direction"})
    layers: int = field(default=1, metadata={"help": "number of stacked layers"})
    cell: str = field(default="gru", metadata={"help": "rnn | lstm | gru", "choices": ["rnn", "lstm", "gru"]})
    bidirectional: bool = field(default=True, metadata={"help": "read the text in both directions"})
    dropout: float = field(default=0.3, metadata={"help": "dropout"})
    pooling: str = field(default="attention", metadata={
        "help": "how to summarise the outputs: attention | final | mean | max",
        "choices": ["attention", "final", "mean", "max"]})

    def capabilities(self) -> Capabilities:
        return Capabilities(vector_width="emb_size", attention_pooling=self.pooling == "attention", input_table=True,
                            text_vector=f"{self.pooling}-pooled {self.cell} states (what its output layer reads)")

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "emb_size", "hidden_size", "layers")
        probability(self, "dropout")


# ---------------------------------------------------- transformer classifier (seqlab.models.transformer_classifier)
# The IMDB benchmark's settings (benchmarks/RESULTS.md).
TRANSFORMER_CLASSIFIER_RECIPE: dict[str, dict[str, Any]] = {"text": {"max_len": 400},
          "train": {"lr": 5e-4, "schedule": "cosine", "warmup": 0.1, "batch_size": 64, "epochs": 6, "max_time": 30}}


@dataclass
class TransformerConfig:
    d_model: int = field(default=128, metadata={"help": "transformer: model width"})
    heads: int = field(default=4, metadata={"help": "transformer: attention heads"})
    layers: int = field(default=2, metadata={"help": "number of stacked layers"})
    ff_size: int = field(default=512, metadata={"help": "transformer: feed-forward size"})
    dropout: float = field(default=0.1, metadata={"help": "dropout"})
    attention_dropout: float = field(default=0.0, metadata={
        "help": "transformer: dropout on attention weights (above 0, PyTorch leaves its fused attention kernel "
                "for the math one: 3x slower training on 400-token reviews measured on a CPU)"})
    pooling: str = field(default="mean", metadata={
        "help": "how to summarise the outputs: mean | cls | attention", "choices": ["mean", "cls", "attention"]})

    def capabilities(self) -> Capabilities:
        return Capabilities(vector_width="d_model", vector_width_divisor="heads",
                            attention_pooling=self.pooling == "attention", input_table=True,
                            text_vector=f"{self.pooling}-pooled encoder outputs (what its output layer reads)")

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "layers", "ff_size")
        divides(self, "heads", "d_model")
        probability(self, "dropout", "attention_dropout")


# ---------------------------------------------------- pretrained classifier (seqlab.models.pretrained)
# The IMDB benchmark's settings (benchmarks/RESULTS.md): one epoch of fine-tuning at a small rate.
PRETRAINED_RECIPE: dict[str, dict[str, Any]] = {"text": {"max_len": 256},
          "train": {"lr": 5e-5, "schedule": "linear", "warmup": 0.1, "batch_size": 16, "epochs": 1, "eval_every": 400,
                    "max_time": 30}}


@dataclass
class PretrainedConfig:
    encoder: str = field(default="minilm", metadata={"help": "pretrained: hub name or local folder (minilm = offline MiniLM)"})
    pooling: str = field(default="mean", metadata={"help": "how to summarise the outputs: mean | cls",
                                                   "choices": ["mean", "cls"]})
    dropout: float = field(default=0.1, metadata={"help": "dropout"})

    def __post_init__(self) -> None:
        choices(self)
        require(bool(self.encoder.strip()), "--encoder may not be empty: give a hub name or a local folder")
        probability(self, "dropout")

    def capabilities(self) -> Capabilities:
        return Capabilities(text="pretrained", no_vectors_reason="(it has its own)", input_table=True,
                            text_vector=f"{self.pooling}-pooled encoder outputs (what its output layer reads)")


# ---------------------------------------------------- attention kinds (seqlab.models.attention)
ATTENTION_KINDS = ("dot", "general", "concat", "additive")


# ---------------------------------------------------- rnn seq2seq (seqlab.models.seq2seq)
# a translator's vector of a text, from its source side (the input table is the source embedding)
SEQ2SEQ_TEXT_VECTOR = "the mean of the encoder's outputs over the source tokens"
# a language model's: it pools nothing itself, so the mean of what it computed at each of the text's tokens
LM_TEXT_VECTOR = "the mean of the last layer's states over the text's tokens"
# The Multi30k de->en benchmark's settings (benchmarks/RESULTS.md: additive attention, 36.8 BLEU in 45 minutes).
RNN_SEQ2SEQ_RECIPE: dict[str, dict[str, Any]] = {"text": {"vocab_size": 8000},
          "train": {"epochs": 30, "batch_size": 256, "max_tokens": 2500, "lr": 1e-3, "weight_decay": 1e-4,
                    "schedule": "cosine", "warmup": 0.03, "patience": 5, "max_time": 45}}


@dataclass
class RNNSeq2SeqConfig:
    """Hyper-parameters of :class:`RNNSeq2Seq`. ``hidden_size`` is the decoder's width; each
    encoder direction has half of it. ``teacher_forcing`` is the probability of feeding the
    gold previous token while training (below 1: scheduled sampling, Bengio et al. 2015);
    the task passes it to ``forward`` during training and 1.0 for validation loss."""

    emb_size: int = field(default=256, metadata={"help": "rnn seq2seq: embedding size"})
    hidden_size: int = field(default=512, metadata={
        "help": "rnn seq2seq: decoder size (each encoder direction gets half)"})
    layers: int = field(default=1, metadata={"help": "number of stacked layers"})
    cell: str = field(default="gru", metadata={"help": "rnn seq2seq: gru | lstm", "choices": ["gru", "lstm"]})
    attention: str = field(default="additive", metadata={
        "help": "rnn seq2seq: attention score: additive (Bahdanau) | dot | general | concat (Luong)",
        "choices": list(ATTENTION_KINDS)})
    dropout: float = field(default=0.3, metadata={"help": "dropout"})
    tie_embeddings: bool = field(default=False, metadata={
        "help": "rnn seq2seq: output layer shares the target embedding"})
    teacher_forcing: float = field(default=1.0, metadata={
        "help": "probability of feeding the gold previous token in training (< 1: scheduled sampling)"})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "emb_size", "layers")
        at_least(self, 2, "hidden_size")
        require(self.hidden_size % 2 == 0,
                f"--hidden-size must be even (each encoder direction gets half), got {self.hidden_size}")
        probability(self, "dropout")
        probability(self, "teacher_forcing", upper="]")


    def capabilities(self) -> Capabilities:
        return Capabilities(teacher_forcing=self.teacher_forcing, input_table=True, text_vector=SEQ2SEQ_TEXT_VECTOR)


# ---------------------------------------------------- transformer seq2seq (seqlab.models.transformer_seq2seq)
# The Multi30k de->en benchmark's settings (benchmarks/RESULTS.md: 37.7 BLEU with beam 5 in 60 minutes).
TRANSFORMER_SEQ2SEQ_RECIPE: dict[str, dict[str, Any]] = {"model": {"share_embeddings": True}, "text": {"vocab_size": 8000},
          "train": {"epochs": 30, "batch_size": 256, "max_tokens": 2500, "lr": 7e-4, "weight_decay": 1e-4,
                    "schedule": "cosine", "warmup": 0.05, "patience": 5, "max_time": 60}}


@dataclass
class TransformerSeq2SeqConfig:
    """Hyper-parameters of :class:`TransformerSeq2Seq`.

    ``share_embeddings`` uses one embedding for source and target (needs a joint vocabulary,
    i.e. equal sizes); ``tie_output`` uses the target embedding as the output layer
    (Press & Wolf 2017). ``max_positions`` is the size of the precomputed sinusoid table;
    longer inputs get their positions computed on the fly, which sinusoids allow.
    """

    d_model: int = field(default=256, metadata={"help": "transformer: model width"})
    heads: int = field(default=4, metadata={"help": "transformer: attention heads"})
    encoder_layers: int = field(default=3, metadata={"help": "transformer seq2seq: encoder blocks"})
    decoder_layers: int = field(default=3, metadata={"help": "transformer seq2seq: decoder blocks"})
    ff_size: int = field(default=1024, metadata={"help": "transformer: feed-forward size"})
    dropout: float = field(default=0.1, metadata={"help": "dropout"})
    share_embeddings: bool = field(default=False, metadata={
        "help": "transformer seq2seq: one embedding for source and target (needs a joint vocabulary)"})
    tie_output: bool = field(default=True, metadata={
        "help": "transformer seq2seq: output layer shares the target embedding"})
    max_positions: int = field(default=512, metadata={
        "help": "transformer seq2seq: precomputed position table size (longer inputs still work)"})

    def __post_init__(self) -> None:
        at_least(self, 1, "encoder_layers", "decoder_layers", "ff_size", "max_positions")
        divides(self, "heads", "d_model")
        require(self.d_model % 2 == 0, f"--d-model must be even, got {self.d_model}")
        probability(self, "dropout")


    def capabilities(self) -> Capabilities:  # trains on the gold previous words
        return Capabilities(input_table=True, text_vector=SEQ2SEQ_TEXT_VECTOR)


# ---------------------------------------------------- language models (seqlab.models.lm)
SOFTMAX_CHOICES = ["full", "adaptive"]
UNKNOWN_VOCAB = 2**62  # a config checks its --cutoffs before the vocabulary (which drops cut-offs past it) exists


def _parse_cutoffs(text: str, vocab_size: int) -> list[int]:
    """"2000,10000" -> [2000, 10000], dropping cut-offs at or past the vocabulary size."""
    try:
        cuts = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise SeqlabError(f"--cutoffs {text!r}: give increasing integers such as 2000,10000") from None
    if cuts != sorted(set(cuts)) or any(c <= 0 for c in cuts):
        raise SeqlabError(f"--cutoffs {text!r}: give increasing positive integers such as 2000,10000")
    return [c for c in cuts if c < vocab_size - 1]


@dataclass
class RNNLMConfig:
    """Hyper-parameters of :class:`RNNLM`; the defaults are the WikiText-2 recipe on a 2-core CPU."""

    cell: str = field(default="lstm", metadata={"help": "rnn: lstm | gru", "choices": ["lstm", "gru"]})
    emb_size: int = field(default=400, metadata={"help": "token embedding size"})
    hidden_size: int = field(default=400, metadata={"help": "rnn: units per layer"})
    layers: int = field(default=2, metadata={"help": "stacked layers"})
    tie_weights: bool = field(default=True, metadata={
        "help": "share the input embedding with the output layer (Press & Wolf 2017; full or adaptive softmax)"})
    dropout: float = field(default=0.3, metadata={"help": "dropout on the last layer's output"})
    # off by default: it makes the embedding gradient dense (measured: 2,285 vs 3,990 tokens/s with a sparse table)
    emb_dropout: float = field(default=0.0, metadata={
        "help": "rnn: drop whole words from the embedding matrix (Gal & Ghahramani 2016, as in AWD-LSTM)"})
    input_dropout: float = field(default=0.25, metadata={"help": "rnn: locked dropout on the embeddings"})
    hidden_dropout: float = field(default=0.2, metadata={"help": "rnn: locked dropout between layers"})
    # adaptive by default: on a 2-core CPU a full softmax over WikiText-2's 33k words is 3x slower per token
    # (measured: 520 vs 1,700 tokens/s for this LSTM), too slow to train enough epochs in an hour
    softmax: str = field(default="adaptive", metadata={
        "help": "output layer: full | adaptive (Grave et al. 2017; faster for large vocabularies)",
        "choices": SOFTMAX_CHOICES})
    cutoffs: str = field(default="2000,10000", metadata={"help": "adaptive softmax cluster boundaries"})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "emb_size", "hidden_size", "layers")
        probability(self, "dropout", "emb_dropout", "input_dropout", "hidden_dropout")
        if self.softmax == "adaptive":
            _parse_cutoffs(self.cutoffs, UNKNOWN_VOCAB)

    def capabilities(self) -> Capabilities:
        return Capabilities(input_table=True, text_vector=LM_TEXT_VECTOR)


# The WikiText-2 benchmark's training settings (benchmarks/lm.py, benchmarks/RESULTS.md): a one-hour budget on a
# 2-core CPU that the cosine schedule follows, clipping at 0.25 (Merity et al. 2017).
RNN_LM_RECIPE: dict[str, dict[str, Any]] = {
    "train": {"epochs": 40, "batch_size": 32, "lr": 2e-3, "weight_decay": 0.01, "schedule": "cosine", "warmup": 200,
              "clip": 0.25, "patience": 3, "max_time": 60}}


@dataclass
class TransformerLMConfig:
    """Hyper-parameters of :class:`TransformerLM` (a GPT-style decoder; Radford et al. 2018)."""

    d_model: int = field(default=256, metadata={"help": "transformer: model width (also the embedding size)"})
    heads: int = field(default=4, metadata={"help": "transformer: attention heads"})
    layers: int = field(default=4, metadata={"help": "stacked layers"})
    ff_size: int = field(default=1024, metadata={"help": "transformer: feed-forward size"})
    dropout: float = field(default=0.2, metadata={"help": "dropout on the last layer's output"})
    context: int = field(default=128, metadata={"help": "transformer: context window (tokens attended to)"})
    positions: str = field(default="learned", metadata={
        "help": "transformer: learned | sinusoidal position encodings", "choices": ["learned", "sinusoidal"]})
    tie_weights: bool = field(default=True, metadata={
        "help": "share the input embedding with the output layer (Press & Wolf 2017; full or adaptive softmax)"})
    softmax: str = field(default="adaptive", metadata={
        "help": "output layer: full | adaptive (Grave et al. 2017; faster for large vocabularies)",
        "choices": SOFTMAX_CHOICES})
    cutoffs: str = field(default="2000,10000", metadata={"help": "adaptive softmax cluster boundaries"})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "layers", "ff_size")
        at_least(self, 2, "context")  # generation keeps the newest half of a full window
        divides(self, "heads", "d_model")
        probability(self, "dropout")
        if self.softmax == "adaptive":
            _parse_cutoffs(self.cutoffs, UNKNOWN_VOCAB)

    def capabilities(self) -> Capabilities:
        return Capabilities(input_table=True, text_vector=LM_TEXT_VECTOR)


# The WikiText-2 settings of the RNN (RNN_LM_RECIPE), which the Transformer trains with too (benchmarks/lm.py).
TRANSFORMER_LM_RECIPE: dict[str, dict[str, Any]] = {"train": dict(RNN_LM_RECIPE["train"])}


# ---------------------------------------------------- bilstm tagger (seqlab.models.tagger)
# The CoNLL-2003 NER benchmark's training settings (measured in benchmarks/tag.py): Adam (no weight decay), the
# rate halved when validation F1 stalls, clipping at 5, and a 30-minute budget that usually ends training first.
TAGGER_RECIPE: dict[str, dict[str, Any]] = {
    "train": {"epochs": 50, "batch_size": 32, "lr": 2e-3, "weight_decay": 0.0, "schedule": "plateau", "clip": 5.0,
              "patience": 5, "max_time": 30.0}}


@dataclass
class TaggerConfig:
    """Hyper-parameters of :class:`BiLSTMTagger` (defaults: a CoNLL-2003 NER recipe)."""

    emb_size: int = field(default=50, metadata={"help": "word embedding size (50 with glove-6b-50d)"})
    case_emb_size: int = field(default=8, metadata={
        "help": "size of the word's case-pattern embedding (all caps, capitalised, digits, ...); 0: none"})
    char: str = field(default="cnn", metadata={
        "help": "character features: cnn (Ma & Hovy 2016) | lstm (Lample et al. 2016) | none",
        "choices": ["cnn", "lstm", "none"]})
    char_emb_size: int = field(default=30, metadata={"help": "character embedding size"})
    char_filters: int = field(default=30, metadata={"help": "char CNN: number of filters (its feature size)"})
    char_width: int = field(default=3, metadata={"help": "char CNN: filter width in characters (odd)"})
    char_hidden: int = field(default=25, metadata={"help": "char LSTM: hidden size per direction"})
    cell: str = field(default="lstm", metadata={"help": "word encoder: lstm | gru", "choices": ["lstm", "gru"]})
    hidden_size: int = field(default=200, metadata={"help": "word encoder hidden size per direction"})
    layers: int = field(default=1, metadata={"help": "word encoder layers"})
    dropout: float = field(default=0.5, metadata={"help": "dropout on the embeddings and the encoder outputs"})
    crf: bool = field(default=True, metadata={"help": "a CRF output layer (else a per-token softmax)"})

    def capabilities(self) -> Capabilities:
        return Capabilities(vector_width="emb_size", input_table=True,
                            text_vector=f"the mean of the bi-{self.cell} outputs over the words")

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "emb_size", "hidden_size", "layers")
        if self.char != "none":  # the sizes of the character features that are used
            at_least(self, 1, "char_emb_size", "char_filters" if self.char == "cnn" else "char_hidden")
        if self.char == "cnn":
            at_least(self, 1, "char_width")
            require(self.char_width % 2 == 1,
                    f"--char-width must be odd (the filter is centred on each character), got {self.char_width}")
        at_least(self, 0, "case_emb_size")
        probability(self, "dropout")

    @property
    def char_size(self) -> int:
        """The size of the character features of one word."""
        return {"cnn": self.char_filters, "lstm": 2 * self.char_hidden, "none": 0}[self.char]


# ---------------------------------------------------- pretrained tagger (seqlab.models.pretrained_tagger)
# The BiLSTM tagger's CoNLL-2003 schedule and budget (TAGGER_RECIPE) at a fine-tuning rate.
PRETRAINED_TAGGER_RECIPE: dict[str, dict[str, Any]] = {"train": {**TAGGER_RECIPE["train"], "lr": 5e-5}}


@dataclass
class PretrainedTaggerConfig:
    """``--model pretrained``: fine-tune a pretrained encoder, each word tagged at its first sub-token."""

    encoder: str = field(default="minilm", metadata={
        "help": "pretrained: hub name or local folder (minilm = the offline all-MiniLM-L6-v2)"})
    dropout: float = field(default=0.1, metadata={"help": "dropout"})
    crf: bool = field(default=True, metadata={"help": "a CRF output layer (else a per-token softmax)"})
    max_subtokens: int = field(default=512, metadata={
        "help": "pretrained: sub-tokens per sentence; a longer one keeps each word's first sub-token only"})

    def capabilities(self) -> Capabilities:
        return Capabilities(text="pretrained", no_vectors_reason="(it has its own)", input_table=True,
                            text_vector="the mean of the encoder's last layer over the sub-tokens")

    def __post_init__(self) -> None:
        require(bool(self.encoder.strip()), "--encoder may not be empty: give a hub name or a local folder")
        probability(self, "dropout")
        at_least(self, 8, "max_subtokens")


# name -> config class, for each task's schema (the models themselves: ``seqlab.models.CLASSIFIERS``,
# ``seqlab.models.lm.LANGUAGE_MODELS``)
CLASSIFIER_CONFIGS: dict[str, type] = {"bag": BagConfig, "rnn": RNNConfig, "transformer": TransformerConfig,
                                       "pretrained": PretrainedConfig}
# name -> the model's best-known settings of the other config sections
CLASSIFIER_RECIPES = {"bag": BAG_RECIPE, "rnn": RNN_CLASSIFIER_RECIPE, "transformer": TRANSFORMER_CLASSIFIER_RECIPE,
                      "pretrained": PRETRAINED_RECIPE}
LANGUAGE_MODEL_CONFIGS: dict[str, type] = {"rnn": RNNLMConfig, "transformer": TransformerLMConfig}
LM_RECIPES = {"rnn": RNN_LM_RECIPE, "transformer": TRANSFORMER_LM_RECIPE}


# ---------------------------------------------------- word2vec (seqlab.models.word2vec)
WORD2VEC_METHODS = ("skipgram", "cbow")


@dataclass
class Word2VecConfig:
    """Word vectors trained with negative sampling (Mikolov et al. 2013), and with ``subword`` fastText's character
    n-grams (Bojanowski et al. 2017). The defaults are gensim's (``Word2Vec``/``FastText``), so a run compares."""

    method: str = field(default="skipgram", metadata={
        "help": "skipgram (predict each context word from the word) | cbow (the word from its context's mean)",
        "choices": list(WORD2VEC_METHODS)})
    dim: int = field(default=100, metadata={"help": "vector size"})
    window: int = field(default=5, metadata={
        "help": "largest context distance; each word draws its own window in 1..N (the shrinking window)"})
    negative: int = field(default=5, metadata={"help": "noise words per positive pair, drawn from unigram^0.75"})
    sample: float = field(default=1e-3, metadata={
        "help": "frequent-word subsampling threshold (word2vec's -sample; 0: off)"})
    min_count: int = field(default=5, metadata={"help": "drop words seen fewer times than this"})
    max_vocab: int | None = field(default=None, metadata={"help": "keep at most this many words (the most frequent)"})
    subword: bool = field(default=False, metadata={
        "help": "fastText-style: a word's vector is the mean of its own and its character n-grams' vectors, so an "
                "unseen word gets one from its n-grams"})
    min_n: int = field(default=3, metadata={"help": "subword: shortest character n-gram (of <word>)"})
    max_n: int = field(default=6, metadata={"help": "subword: longest character n-gram"})
    buckets: int = field(default=2_000_000, metadata={
        "help": "subword: hash buckets for the n-grams (fastText's -bucket); only buckets the vocabulary uses are "
                "stored"})

    def __post_init__(self) -> None:
        choices(self)
        at_least(self, 1, "dim", "window", "min_count", "max_vocab", "min_n", "buckets")
        at_least(self, 0, "negative")
        require(self.negative >= 1, f"--negative must be >= 1 (negative sampling), got {self.negative}")
        require(0.0 <= self.sample < 1.0, f"--sample must be in [0, 1), got {self.sample:g}")
        require(self.max_n >= self.min_n, f"--max-n {self.max_n} is below --min-n {self.min_n}")

    def capabilities(self) -> Capabilities:
        return Capabilities(text="words")


# gensim's training settings (alpha 0.025 decaying linearly to ~0, 5 epochs, plain SGD on the summed loss):
# `seqlab train embeddings --data FILE` trains exactly what `gensim.models.Word2Vec(sentences)` does.
WORD2VEC_RECIPE: dict[str, dict[str, Any]] = {
    "train": {"epochs": 5, "lr": 0.025, "schedule": "linear", "optimizer": "sgd", "batch_size": 4096, "clip": None,
              "weight_decay": 0.0, "patience": None, "precision": "fp32"}}
EMBEDDING_CONFIGS: dict[str, type] = {"word2vec": Word2VecConfig}
EMBEDDING_RECIPES = {"word2vec": WORD2VEC_RECIPE}
