import argparse

import pytest

from seqlab.api import make_config
from seqlab.errors import SeqlabError
from seqlab.models.rnn_classifier import RNNConfig
from seqlab.tasks.classify.recipe import SCHEMA


def test_flags_reach_the_right_sections():
    cfg = make_config("classify", settings={"model": "rnn", "cell": "lstm", "bidirectional": False,
                                            "epochs": "3", "min_freq": 5, "embeddings": "glove-6b-50d"})
    assert cfg.model_name == "rnn" and isinstance(cfg.model, RNNConfig)
    assert cfg.model.cell == "lstm" and cfg.model.bidirectional is False
    assert cfg.train.epochs == 3 and cfg.text.min_freq == 5 and cfg.vectors.embeddings == "glove-6b-50d"


def test_flag_of_another_model_is_refused():
    with pytest.raises(SeqlabError, match="--cell does not apply to --model bag"):
        make_config("classify", settings={"model": "bag", "cell": "gru"})


def test_bad_values_and_unknown_keys():
    with pytest.raises(SeqlabError, match="not a valid int"):
        make_config("classify", settings={"epochs": "three"})
    with pytest.raises(SeqlabError, match="is not one of"):
        make_config("classify", settings={"model": "rnn", "cell": "transformer"})
    with pytest.raises(SeqlabError, match="unknown setting"):
        SCHEMA.from_dict({"train": {"epoch": 3}})


def test_toml_file_then_flags_override(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[model]\nname = "transformer"\nlayers = 3\n\n[train]\nepochs = 7\nlr = 0.0005\n')
    cfg = make_config("classify", path, {"epochs": 2})
    assert cfg.model_name == "transformer" and cfg.model.layers == 3
    assert cfg.train.epochs == 2 and cfg.train.lr == 0.0005


def test_yaml_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model:\n  name: bag\n  ngrams: 3\ntext:\n  max_len: 1000\n")
    cfg = make_config("classify", path)
    assert cfg.model.ngrams == 3 and cfg.text.max_len == 1000


def test_saved_dict_rebuilds_the_same_config():
    cfg = make_config("classify", settings={"model": "bag", "ngrams": 3, "lr": 0.1})
    assert SCHEMA.from_dict(SCHEMA.to_dict(cfg)) == cfg


def test_cli_parser_builds_flags_for_every_setting():
    parser = argparse.ArgumentParser(argument_default=argparse.SUPPRESS)
    SCHEMA.add_flags(parser)
    args = vars(parser.parse_args(["--model", "rnn", "--cell", "gru", "--no-bidirectional", "--lr", "0.01"]))
    assert args == {"model_name": "rnn", "cell": "gru", "bidirectional": False, "lr": "0.01"}


def test_boolean_flags_take_a_value_as_recorded_commands_write_them():
    from seqlab.cli import build_parser

    parser, _ = build_parser()
    for argv, expected in ((["--share-embeddings", "True"], True), (["--share-embeddings"], True),
                           (["--share-embeddings", "false"], False), (["--no-share-embeddings"], False)):
        args = parser.parse_args(["train", "translate", "--out", "x", *argv])
        from seqlab.api import make_config

        assert make_config("translate", settings={"share_embeddings": args.share_embeddings}).model.share_embeddings \
            is expected


def test_a_shared_setting_offers_every_models_choices():
    """--pooling is defined by the rnn (attention/final/mean/max) and the transformer (mean/cls/attention)."""
    from seqlab.api import make_config
    from seqlab.cli import build_parser

    parser, _ = build_parser()
    args = parser.parse_args(["train", "classify", "--out", "x", "--model", "transformer", "--pooling", "cls"])
    assert make_config("classify", settings={"model": "transformer", "pooling": args.pooling}).model.pooling == "cls"
    with pytest.raises(SeqlabError, match="not one of"):  # still checked against the chosen model's own choices
        make_config("classify", settings={"model": "transformer", "pooling": "final"})


def test_every_command_recorded_in_the_benchmark_results_parses():
    """The commands printed in benchmarks/RESULTS.md must run as printed (flags after the recorded prefix too)."""
    import re
    import shlex
    from pathlib import Path

    from seqlab.cli import build_parser

    parser, _ = build_parser()
    text = (Path(__file__).resolve().parents[1] / "benchmarks" / "RESULTS.md").read_text(encoding="utf-8")
    checked = 0
    for line in text.splitlines():
        prefix = re.search(r"flags after `(seqlab train \w+ --data \S+)`", line)
        if prefix:
            current_prefix = prefix.group(1)
        for command in re.findall(r"`((?:seqlab train|--model)[^`]*)`", line):
            argv = shlex.split(command if command.startswith("seqlab") else f"{current_prefix} {command}")[1:]
            parser.parse_args([*argv, "--out", "x"])
            checked += 1
    assert checked >= 7


def test_the_shortest_command_gets_the_chosen_models_recipe(tmp_path):
    """Defaults are the recipes: the model's best-known settings sit under a config file and flags."""
    from seqlab.models import bag
    from seqlab.models import rnn_classifier as rnn

    cfg = make_config("classify")
    assert cfg.model_name == "bag" and cfg.model.weighting == "nb" and cfg.model.ngrams == 3
    assert (cfg.train.lr, cfg.train.epochs, cfg.text.max_len) == (bag.RECIPE["train"]["lr"], 2, 3000)
    cfg = make_config("classify", settings={"model": "rnn"})
    assert cfg.vectors.embeddings == rnn.RECIPE["vectors"]["embeddings"] and cfg.train.lr == 0.002
    assert make_config("classify", settings={"model": "rnn", "lr": 0.01}).train.lr == 0.01  # a flag wins
    config_file = tmp_path / "run.toml"
    config_file.write_text('[train]\nepochs = 9\n[model]\nname = "transformer"\n', encoding="utf-8")
    cfg = make_config("classify", config_file)
    assert cfg.train.epochs == 9 and cfg.train.schedule == "cosine"  # the file wins, the recipe fills the rest
    tr = make_config("translate")
    assert tr.model.share_embeddings and tr.train.max_tokens == 2500 and tr.train.lr == 7e-4
