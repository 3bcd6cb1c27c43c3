"""Every config validates when it is built, in one style: a SeqlabError naming the flag and the bad value.

The command line builds the config (flags -> ``TaskConfigSchema.apply_flags`` -> ``from_dict`` -> ``build`` ->
each dataclass's ``__post_init__``) before any data is read, so a bad setting fails in one line, at once.
"""

from __future__ import annotations

import dataclasses
import math

import pytest

from seqlab.api import make_config
from seqlab.cli import main
from seqlab.data.classification import ClassifyDataConfig
from seqlab.data.parallel import TranslateDataConfig
from seqlab.errors import SeqlabError
from seqlab.models.bag import BagConfig
from seqlab.models.lm import RNNLMConfig, TransformerLMConfig
from seqlab.models.pretrained_tagger import PretrainedTaggerConfig
from seqlab.models.rnn_classifier import RNNConfig
from seqlab.models.seq2seq import RNNSeq2SeqConfig
from seqlab.models.tagger import TaggerConfig
from seqlab.models.transformer_classifier import TransformerClassifier, TransformerConfig
from seqlab.models.transformer_seq2seq import TransformerSeq2SeqConfig
from seqlab.tasks.base import get_task
from seqlab.tasks.lm.recipe import LMTextConfig, StreamConfig
from seqlab.tasks.tag.recipe import TagDataConfig, TagVectorsConfig
from seqlab.tasks.translate.recipe import DecodingConfig, ObjectiveConfig, TranslateTextConfig
from seqlab.text.pipeline import TextConfig
from seqlab.train import TrainConfig

TASKS = ["classify", "translate", "tag", "lm"]


# ---------------------------------------------------------------------------- the command line
@pytest.mark.parametrize("flags, needles", [
    (["--model", "transformer", "--d-model", "100", "--heads", "3"], ["--heads 3 does not divide --d-model 100"]),
    (["--lr", "nan"], ["--lr must be a positive number, got nan"]),
    (["--epochs", "0"], ["--epochs must be >= 1, got 0"]),
    (["--max-time", "0"], ["--max-time must be > 0 (minutes), got 0"]),
    (["--max-time", "-1"], ["--max-time must be > 0 (minutes), got -1"]),
])
def test_a_bad_setting_fails_in_one_line_before_the_data_is_read(tmp_path, capsys, flags, needles):
    out = tmp_path / "out"
    argv = ["train", "classify", "--data", str(tmp_path / "no-such-data.csv"), "--out", str(out), *flags]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("seqlab: error:") and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err
    assert "no-such-data" not in err  # refused before --data was looked at
    assert not out.exists()


@pytest.mark.parametrize("task, settings, needle", [
    ("translate", {"heads": 3}, "--heads 3 does not divide --d-model 256"),
    ("translate", {"model": "rnn", "hidden_size": 7}, "--hidden-size must be even"),
    ("translate", {"label_smoothing": 1.0}, "--label-smoothing must be in [0, 1), got 1"),
    ("translate", {"beam": 0}, "--beam must be >= 1, got 0"),
    ("translate", {"src": "en", "tgt": "en"}, "--src and --tgt must be two different languages"),
    ("lm", {"model": "transformer", "context": 1}, "--context must be >= 2, got 1"),
    ("lm", {"bptt": 1}, "--bptt must be >= 2, got 1"),
    ("lm", {"cutoffs": "10,5"}, "--cutoffs '10,5'"),
    ("tag", {"scheme": "xyz"}, "--scheme: unknown tag scheme 'xyz'"),
    ("tag", {"tag_column": "nre"}, "--tag-column 'nre'"),
    ("tag", {"singleton_unk": 1.5}, "--singleton-unk must be in [0, 1), got 1.5"),
    ("tag", {"model": "pretrained", "max_subtokens": 4}, "--max-subtokens must be >= 8, got 4"),
    ("classify", {"valid_fraction": 0.95}, "--valid-fraction must be between 0 and 0.9, got 0.95"),
    ("classify", {"min_freq": 0}, "--min-freq must be >= 1, got 0"),
    ("classify", {"device": "cdua"}, "--device 'cdua' is not a device"),
])
def test_every_section_is_checked_when_the_config_is_built(task, settings, needle):
    with pytest.raises(SeqlabError) as caught:
        make_config(task, settings=settings)
    assert needle in str(caught.value)


# ---------------------------------------------------------------------------- one class of error each
def test_sizes_must_be_at_least_one():
    for make, flag in ((lambda: RNNConfig(hidden_size=0), "--hidden-size"), (lambda: BagConfig(ngrams=0), "--ngrams"),
                       (lambda: TaggerConfig(layers=0), "--layers"), (lambda: RNNLMConfig(emb_size=0), "--emb-size"),
                       (lambda: TransformerSeq2SeqConfig(ff_size=0), "--ff-size"),
                       (lambda: TrainConfig(batch_size=0), "--batch-size"),
                       (lambda: TrainConfig(max_tokens=0), "--max-tokens"),
                       (lambda: TrainConfig(patience=0), "--patience")):
        with pytest.raises(SeqlabError, match=f"^{flag} must be >= 1, got 0$"):
            make()
    assert TrainConfig(patience=None, max_tokens=None).patience is None  # None: unset, not a size


def test_dropout_is_a_probability_below_one():
    for make in (lambda: TransformerConfig(dropout=1.0), lambda: RNNSeq2SeqConfig(dropout=-0.1),
                 lambda: RNNLMConfig(hidden_dropout=math.nan), lambda: PretrainedTaggerConfig(dropout=1.0),
                 lambda: BagConfig(token_dropout=1.0)):
        with pytest.raises(SeqlabError, match=r"must be in \[0, 1\), got"):
            make()
    assert RNNSeq2SeqConfig(teacher_forcing=1.0).teacher_forcing == 1.0  # a probability that may be 1
    with pytest.raises(SeqlabError, match=r"--teacher-forcing must be in \[0, 1\], got 1.5"):
        RNNSeq2SeqConfig(teacher_forcing=1.5)


def test_heads_must_divide_the_width_and_no_model_raises_value_error():
    for cls in (TransformerConfig, TransformerLMConfig, TransformerSeq2SeqConfig):
        with pytest.raises(SeqlabError, match="^--heads 3 does not divide --d-model 100$"):
            cls(d_model=100, heads=3)
        with pytest.raises(SeqlabError, match="^--heads must be >= 1, got 0$"):
            cls(heads=0)
    config = TransformerConfig(d_model=8, heads=2, layers=1, ff_size=8)
    assert TransformerClassifier(config, vocab_size=10, num_outputs=2).config is config


@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0, -1e-3])
def test_rates_must_be_finite_and_positive(value):
    with pytest.raises(SeqlabError, match="^--lr must be a positive number, got "):
        TrainConfig(lr=value)
    with pytest.raises(SeqlabError, match="^--clip must be a positive number, got "):
        TrainConfig(clip=value)
    if value != 0.0:
        with pytest.raises(SeqlabError, match="^--weight-decay must be a number >= 0, got "):
            TrainConfig(weight_decay=value)
    with pytest.raises(SeqlabError, match="^--nb-alpha must be a positive number"):
        BagConfig(nb_alpha=value)


@pytest.mark.parametrize("value", [0.0, -1.0, math.inf, math.nan])
def test_max_time_must_be_a_positive_budget(value):
    with pytest.raises(SeqlabError, match=r"^--max-time must be > 0 \(minutes\), got "):
        TrainConfig(max_time=value)
    assert TrainConfig(max_time=None).max_time is None and TrainConfig(max_time=0.5).max_time == 0.5


def test_choices_are_checked_for_configs_made_by_hand_too():
    with pytest.raises(SeqlabError, match="^--cell must be rnn, lstm or gru, got 'transformer'$"):
        RNNConfig(cell="transformer")
    with pytest.raises(SeqlabError, match="^--schedule must be none, plateau, "):
        TrainConfig(schedule="step")
    with pytest.raises(SeqlabError, match="is not one of"):  # from flags and files: the schema's message
        make_config("classify", settings={"schedule": "step"})


def test_data_text_and_task_sections():
    cases = [
        (lambda: ClassifyDataConfig(limit=0), "--limit must be >= 1, got 0"),
        (lambda: TranslateDataConfig(src="de", tgt="de"), "--src and --tgt must be two different languages"),
        (lambda: TranslateDataConfig(heldout=0), "--heldout must be >= 1, got 0"),
        (lambda: TagDataConfig(valid_fraction=math.nan), "--valid-fraction must be between 0 and 0.9, got nan"),
        (lambda: TextConfig(max_vocab=2), "--max-vocab must be >= 3, got 2"),
        (lambda: TranslateTextConfig(vocab_size=5), "--vocab-size must be >= 10, got 5"),
        (lambda: LMTextConfig(min_freq=0), "--min-freq must be >= 1, got 0"),
        (lambda: StreamConfig(bptt=0), "--bptt must be >= 2, got 0"),
        (lambda: ObjectiveConfig(label_smoothing=-0.1), "--label-smoothing must be in [0, 1), got -0.1"),
        (lambda: DecodingConfig(length_penalty=math.inf), "--length-penalty must be a number >= 0, got inf"),
        (lambda: DecodingConfig(max_len_ratio=0, max_len_extra=0), "would allow no target tokens"),
        (lambda: TagVectorsConfig(extra_vectors=-1), "--extra-vectors must be >= 0, got -1"),
    ]
    for make, message in cases:
        with pytest.raises(SeqlabError) as caught:
            make()
        assert message in str(caught.value)


def test_the_tag_scheme_is_normalised_when_built():
    assert TagDataConfig(scheme="iob2").scheme == "bio" and TagDataConfig(scheme="IOBES").scheme == "bioes"
    assert make_config("tag", settings={"scheme": "iob2"}).data.scheme == "bio"
    assert TagDataConfig().scheme == "auto"


def test_one_style_no_hand_called_validate():
    """No config section or model config has a ``validate()`` to forget calling: building one checks it."""
    for task in TASKS:
        schema = get_task(task).schema
        for cls in [*schema.sections.values(), *schema.models.values()]:
            assert not hasattr(cls, "validate"), cls
            assert dataclasses.is_dataclass(cls) and cls() is not None  # the defaults are valid


# ---------------------------------------------------------------------------- saved configs and recipes
def test_saved_configs_rebuild_and_an_old_no_limit_budget_still_loads():
    for task in TASKS:
        schema = get_task(task).schema
        for name in schema.models:
            config = make_config(task, settings={"model": name})
            saved = schema.to_dict(config)
            assert schema.from_dict(saved) == config
            saved["train"]["max_time"] = 0  # written before budgets had to be positive: it meant no limit
            assert schema.from_dict(saved).train.max_time is None
    with pytest.raises(SeqlabError, match="--max-time must be > 0"):  # given today, 0 is refused
        make_config("lm", settings={"max_time": 0})
    with pytest.raises(SeqlabError, match="--lr must be a positive number"):  # a saved value is checked too
        get_task("classify").schema.from_dict({"train": {"lr": -1}})


def test_the_shortest_command_trains_each_models_recipe():
    """The defaults that the task's TrainConfig subclasses used to state, now in each model's RECIPE."""
    def train(task: str, model: str) -> TrainConfig:
        return make_config(task, settings={"model": model}).train

    for model, lr in (("transformer", 7e-4), ("rnn", 1e-3)):
        t = train("translate", model)
        assert (t.epochs, t.batch_size, t.max_tokens, t.lr, t.weight_decay, t.schedule, t.patience) == (
            30, 256, 2500, lr, 1e-4, "cosine", 5)
    for model in ("rnn", "transformer"):
        t = train("lm", model)
        assert (t.epochs, t.batch_size, t.lr, t.schedule, t.warmup, t.clip, t.patience, t.max_time) == (
            40, 32, 2e-3, "cosine", 200, 0.25, 3, 60)
    for model, lr in (("bilstm-crf", 2e-3), ("bilstm", 2e-3), ("pretrained", 5e-5)):
        t = train("tag", model)
        assert (t.epochs, t.batch_size, t.lr, t.weight_decay, t.schedule, t.clip, t.patience, t.max_time) == (
            50, 32, lr, 0.0, "plateau", 5.0, 5, 30)
    assert make_config("tag", settings={"model": "pretrained", "lr": 1e-4}).train.lr == 1e-4  # flags win
