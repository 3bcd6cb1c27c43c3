"""User errors at the faces: one ``seqlab: error: ...`` line and status 2 (a SeqlabError from Python), never a
traceback, and nothing half-written left in ``--out``. Also: misspelt settings, text that is not valid Unicode,
``--out`` and ``--resume`` checked before any data is read, a start-up that imports no torch for help and argument
errors, and the small ones (empty sources, ``<unk>`` never sampled, file modes, durations, one sacreBLEU line)."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import seqlab
from seqlab.cli import main
from seqlab.errors import SeqlabError

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures" / "model-dirs-8706680"


@pytest.fixture()
def model(tmp_path):
    """A copy of a tiny model directory of each task (written by seqlab at commit 8706680)."""
    def copy(name: str) -> Path:
        return Path(shutil.copytree(FIXTURES / name, tmp_path / name))
    return copy


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """``seqlab ARGV`` in this process: (exit status, stdout, stderr); argparse's exits count as statuses."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("seqlab: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err, err
    return lines[0]


def listing(path: Path) -> list[str] | None:
    """What is at ``path``: None if nothing, a file's name, else the directory's tree."""
    if not path.exists():
        return None
    if not path.is_dir():
        return [path.name]
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ---------------------------------------------------------------------------- 1. misspelt settings and options
def test_a_misspelt_setting_is_refused_from_python_with_the_closest_name(tmp_path, reviews_csv):
    out = tmp_path / "run"
    with pytest.raises(SeqlabError, match=r"unknown setting 'epocs' \(did you mean epochs\?\)"):
        seqlab.train("classify", out, data=str(reviews_csv), text_column="review", label_column="sentiment",
                     epocs=2, log=lambda *_: None)
    assert not out.exists()
    with pytest.raises(SeqlabError, match=r"unknown setting in train: epoch \(did you mean epochs\?\)"):
        from seqlab.tasks.classify.recipe import SCHEMA

        SCHEMA.from_dict({"train": {"epoch": 3}})


def test_a_misspelt_load_option_is_refused(model):
    with pytest.raises(SeqlabError, match=r"unknown option 'precison' \(did you mean precision\?\)"):
        seqlab.load(model("classify-bag"), precison="bf16")


def test_a_misspelt_train_flag_gets_a_hint(capsys, tmp_path):
    code, _, err = run_cli(["train", "classify", "--out", str(tmp_path / "x"), "--epocs", "2"], capsys)
    assert code == 2
    assert "unrecognized arguments: --epocs 2 (did you mean --epochs?)" in one_error_line(err)


# ---------------------------------------------------------------------------- 2. text that is not valid Unicode
def test_the_checker_names_the_text_and_the_character():
    from seqlab.inference import check_texts

    assert check_texts(("a", "b"), "predict()") == ["a", "b"]
    with pytest.raises(SeqlabError, match=r"^text 1, character 5: a lone surrogate \(\\ud800\) is not valid Unicode$"):
        check_texts(["der \ud800 hund"], "predict()")
    with pytest.raises(SeqlabError, match=r"text 2, character 2: .*\\udcff: the byte 0xff"):
        check_texts(["fine", "a\udcff"], "predict()")
    with pytest.raises(SeqlabError, match=r"text 2 is not a string \(got int\)"):
        check_texts(["fine", 3], "predict()")
    with pytest.raises(SeqlabError, match=r"predict\(\) takes a list of strings"):
        check_texts("one text", "predict()")


def test_every_predictor_entry_point_refuses_invalid_unicode(model):
    bad = ["fine", "der \ud800 hund"]
    clf = seqlab.load(model("classify-bag"))
    mt = seqlab.load(model("translate-rnn"))
    tagger = seqlab.load(model("tag-bilstm-crf"))
    lm = seqlab.load(model("lm-rnn"))
    calls = [lambda: clf.predict(bad), lambda: clf.explain(bad), lambda: mt.translate_detailed(bad),
             lambda: mt.translate(bad), lambda: mt.perplexity(bad, ["a", "b"]), lambda: tagger.tag(bad),
             lambda: lm.perplexity(bad), lambda: lm.token_logprobs(bad)]
    for call in calls:
        with pytest.raises(SeqlabError, match=r"2, character 5: a lone surrogate"):
            call()
    with pytest.raises(SeqlabError, match=r"sentence 1, word 2, character 2: a lone surrogate"):
        tagger.tag_tokens([["Ada", "P\udcffris"]])
    for call in (lambda: lm.encode_prompt("The \ud800"), lambda: list(lm.stream("The \ud800", max_tokens=2)),
                 lambda: lm.generate("The \ud800", max_tokens=2)):
        with pytest.raises(SeqlabError, match=r"the prompt, character 5: a lone surrogate"):
            call()


def test_cli_arguments_that_are_not_utf8_are_refused(model, capsys):
    # bytes that are not UTF-8 reach sys.argv as surrogate escapes: $'der \xff hund' is 'der \udcff hund'
    code, out, err = run_cli(["translate", str(model("translate-rnn")), "gut", "der \udcff hund"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err) == "seqlab: error: argument 2 is not valid UTF-8 (byte 0xff at position 4)"
    code, out, err = run_cli(["generate", str(model("lm-rnn")), "--prompt", "The \udcff"], capsys)
    assert code == 2 and out == ""
    assert one_error_line(err) == "seqlab: error: --prompt is not valid UTF-8 (byte 0xff at position 4)"


def test_standard_input_that_is_not_utf8_names_the_line(model, capsys, monkeypatch):
    class Stdin(io.TextIOWrapper):
        def isatty(self) -> bool:
            return False

    monkeypatch.setattr(sys, "stdin", Stdin(io.BytesIO(b"good film\nthe \xff plot\n")))
    code, _, err = run_cli(["predict", str(model("classify-bag"))], capsys)
    assert code == 2
    assert one_error_line(err) == ("seqlab: error: standard input, line 2, is not valid UTF-8 (byte 0xff at "
                                   "position 4)")


def test_real_argv_bytes_through_a_subprocess(tmp_path):
    """The bytes as a shell passes them ($'...\\xff...'), through the installed entry point's code path."""
    target = FIXTURES / "classify-bag"
    result = subprocess.run([sys.executable, "-m", "seqlab.cli", "predict", str(target), b"der \xff hund"],
                            capture_output=True, cwd=tmp_path, timeout=120)
    err = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2, err
    assert one_error_line(err) == "seqlab: error: argument 1 is not valid UTF-8 (byte 0xff at position 4)"


# ---------------------------------------------------------------------------- 3. --out checked before the data
@pytest.mark.parametrize("make_out, message", [
    (lambda tmp: (tmp / "taken.txt", (tmp / "taken.txt").write_text("x"))[0], "is a file; give a directory"),
    (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("x"))[0] / "sub",
     "notes.txt is a file, so no directory can be made below it"),
    (lambda tmp: Path("/proc/seqlab-x"), "--out /proc/seqlab-x: cannot create this directory"),
])
def test_an_out_that_cannot_be_written_is_refused_before_the_data_is_read(tmp_path, capsys, make_out, message):
    out = make_out(tmp_path)
    before = listing(out)
    # the data does not exist: the --out problem is found first, before anything is read
    code, _, err = run_cli(["train", "classify", "--data", str(tmp_path / "missing.csv"), "--out", str(out)], capsys)
    assert code == 2
    assert message in one_error_line(err)
    assert listing(out) == before


def test_a_failure_after_the_out_check_leaves_no_directory(tmp_path, capsys):
    data = tmp_path / "reviews.csv"
    data.write_text("text,label\ngreat film,pos\nawful plot,neg\nso so,\ndull,neg\n", encoding="utf-8")
    out = tmp_path / "deep" / "run"
    code, _, err = run_cli(["train", "classify", "--data", str(data), "--out", str(out), "--no-progress"], capsys)
    assert code == 2
    assert "reviews.csv: row 3 after the header has an empty label: 'so so'" in one_error_line(err)
    assert not (tmp_path / "deep").exists()


def test_file_system_errors_while_running_are_one_line(monkeypatch, capsys, tmp_path):
    def full(*_args, **_kwargs):
        raise OSError(28, "No space left on device", str(tmp_path / "run" / "model.safetensors"))

    import seqlab.api

    monkeypatch.setattr(seqlab.api, "train", full)
    code, _, err = run_cli(["train", "classify", "--out", str(tmp_path / "run")], capsys)
    assert code == 2
    assert one_error_line(err) == f"seqlab: error: No space left on device: {tmp_path / 'run' / 'model.safetensors'}"


# ---------------------------------------------------------------------------- 4. --resume
def test_resume_with_nothing_to_resume(tmp_path, capsys):
    missing = tmp_path / "never-trained"
    code, _, err = run_cli(["train", "classify", "--resume", "--out", str(missing)], capsys)
    assert code == 2 and "--resume: nothing to resume" in one_error_line(err) and "does not exist" in err
    assert not missing.exists()
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(["train", "classify", "--resume", "--out", str(empty)], capsys)
    assert code == 2 and f"{empty} has no checkpoint (checkpoint.pt)" in one_error_line(err)
    assert listing(empty) == []


def test_resume_refuses_a_model_of_another_task_or_architecture(model, capsys):
    lm_dir = model("lm-rnn")
    (lm_dir / "checkpoint.pt").write_bytes(b"a checkpoint")  # never read: the config says what the directory holds
    before = listing(lm_dir)
    code, _, err = run_cli(["train", "classify", "--resume", "--out", str(lm_dir)], capsys)
    assert code == 2
    assert one_error_line(err) == (f"seqlab: error: {lm_dir} holds a 'lm' model; --resume continues a 'classify' "
                                   "model")
    bag_dir = model("classify-bag")
    (bag_dir / "checkpoint.pt").write_bytes(b"a checkpoint")
    code, _, err = run_cli(["train", "classify", "--resume", "--model", "rnn", "--out", str(bag_dir)], capsys)
    assert code == 2 and "of --model bag; --resume continues it with the same --model (got rnn)" in err
    assert listing(lm_dir) == before


@pytest.mark.parametrize("saved", [True, False])
def test_an_interrupt_says_how_to_resume(tmp_path, capsys, monkeypatch, saved):
    from seqlab.tasks.base import get_task

    spec = get_task("classify")

    def interrupted(config, out_dir, *, resume, log):
        out_dir.mkdir(parents=True)
        if saved:
            (out_dir / "checkpoint.pt").write_bytes(b"state")
        raise KeyboardInterrupt

    monkeypatch.setattr(spec, "_train", interrupted)
    out = tmp_path / "run"
    code, _, err = run_cli(["train", "classify", "--out", str(out)], capsys)
    assert code == 130 and "Traceback" not in err
    if saved:
        assert f"interrupted; continue from the last checkpoint in {out} with the same command and --resume" in err
        assert out.is_dir()
    else:
        assert "interrupted before the first checkpoint; nothing was saved" in err
        assert not out.exists()


# ---------------------------------------------------------------------------- 5. start-up without torch
def test_help_and_argument_errors_import_no_torch(tmp_path):
    from seqlab.commandline import PRECISION_CHOICES
    from seqlab.runtime import INFERENCE_PRECISIONS

    assert PRECISION_CHOICES == INFERENCE_PRECISIONS
    script = """if True:
        import contextlib, io, sys
        from seqlab.cli import main
        for argv in (["--help"], ["--version"], ["train", "--help"], ["predict", "--help"], ["generate", "--help"],
                     ["tag", "--help"], ["translate", "--help"], ["evaluate", "--help"], ["serve", "--help"],
                     ["bogus"], ["predict"]):
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                try:
                    main(argv)
                except SystemExit:
                    pass
            assert "torch" not in sys.modules, argv
        # a train command's help and its argument errors read the task's config schema (seqlab/tasks/<name>/config.py,
        # seqlab/models/configs.py, seqlab/train_config.py), never its recipe, models or trainer
        from seqlab.tasks.base import TASKS
        for task in TASKS:
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
                try:
                    main(["train", task, "--help"])
                except SystemExit as exc:
                    assert exc.code == 0, task
            assert "--epochs" in out.getvalue() and "torch" not in sys.modules, task
        for argv in (["train", "classify", "--out", "run", "--bogus", "1"],
                     ["train", "classify", "--out", "run", "--epochs", "x"],
                     ["train", "translate", "--out", "run", "--beam", "0"],
                     ["train", "tag", "--out", "run", "--dropout", "2"],
                     ["train", "lm", "--out", "run", "--cutoffs", "a"]):
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                try:
                    code = main(argv)
                except SystemExit as exc:
                    code = exc.code
            errors = [line for line in err.getvalue().splitlines() if line.startswith("seqlab: error:")]
            assert code == 2 and len(errors) == 1 and "Traceback" not in err.getvalue(), (argv, err.getvalue())
            assert "torch" not in sys.modules, argv
        import os
        assert not os.path.exists("run")
        import seqlab
        assert callable(seqlab.train) and "torch" not in sys.modules
        print("no torch")
    """
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.stdout.strip() == "no torch", result.stderr


def test_importing_the_trainer_keeps_seqlab_train_the_function():
    import seqlab.train  # noqa: F401  (the module: it must not replace the function)
    from seqlab.train import Trainer  # noqa: F401

    assert callable(seqlab.train) and seqlab.train.__module__ == "seqlab.api"


def test_train_help_shows_each_settings_default():
    from seqlab.api import make_config
    from seqlab.cli import build_parser

    _, task_parsers = build_parser()
    text = " ".join(task_parsers["classify"].format_help().split())
    bag, rnn = make_config("classify"), make_config("classify", settings={"model": "rnn"})
    assert f"passes over the training data (default {bag.train.epochs}; --model rnn {rnn.train.epochs}" in text
    assert "read the text in both directions [rnn] (default true)" in text
    assert "(default none)" in text


# ---------------------------------------------------------------------------- 6. the small ones
def test_an_empty_source_has_an_empty_translation(model, capsys):
    mt = seqlab.load(model("translate-rnn"))
    got = mt.translate(["", "   ", "Hund läuft ."])
    assert got[:2] == ["", ""] and got[2]
    assert mt.translate_detailed([""], beam=2, nbest=2)[0]["nbest"] == [{"translation": "", "score": 0.0,
                                                                       "normalized_score": 0.0}]
    code, out, _ = run_cli(["translate", str(mt.model_dir), ""], capsys)
    assert code == 0 and out == "\n"


def test_sampling_never_chooses_a_banned_id():
    from seqlab.decode import SamplingConfig, sample

    class Loves1:  # a model whose every step puts nearly all probability on id 1
        def start(self, ids):
            return self.step(ids[:, -1], None)

        def step(self, tokens, state):
            scores = torch.full((tokens.size(0), 6), -10.0)
            scores[:, 1] = 0.0
            return torch.log_softmax(scores, -1), state

    generator = torch.Generator().manual_seed(0)
    chosen = [t for tokens, _ in sample(Loves1(), torch.zeros(4, 1, dtype=torch.long), 20, SamplingConfig(2.0),
                                        generator, banned=[1, 0]) for t in tokens.tolist()]
    assert chosen and 1 not in chosen and 0 not in chosen


def test_a_bpe_language_model_never_generates_unk_or_pad(model):
    from seqlab.text.subword import PAD_ID, SOS_ID, UNK_ID

    lm = seqlab.load(model("lm-rnn"))
    assert lm.tokenizer.kind == "bpe" and set(lm.not_text) == {PAD_ID, UNK_ID, SOS_ID}
    ids = [item["id"] for item in lm.stream("the", max_tokens=200, temperature=3.0, seed=1, num_samples=4)]
    assert not set(ids) & {PAD_ID, UNK_ID, SOS_ID}


def test_every_file_of_a_model_directory_has_the_same_mode(tmp_path):
    from seqlab.modeldir import save_model_dir

    out = tmp_path / "m"
    save_model_dir(out, task="toy", config={}, state_dict={"w": torch.zeros(2)}, json_files={"text.json": {}},
                   metrics={"valid": {}})
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()}
    assert set(modes) == {"config.json", "text.json", "metrics.json", "model.safetensors"}
    assert len(set(modes.values())) == 1, modes
    assert modes["model.safetensors"] == 0o666 & ~_umask()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def test_durations_read_as_people_write_them():
    from seqlab.train import format_duration

    assert [format_duration(s) for s in (20, 20.000000001, 90, 1800, 5400)] == ["20s", "20s", "1.5 min", "30 min",
                                                                                 "1.5 h"]


def test_evaluate_of_a_translator_prints_the_sacrebleu_signature_once(model, tmp_path, capsys):
    data = tmp_path / "toy"
    data.mkdir()
    (data / "test.de").write_text("Hund läuft .\nMann spielt rot .\n", encoding="utf-8")
    (data / "test.en").write_text("dog runs .\nman plays red .\n", encoding="utf-8")
    code, out, err = run_cli(["evaluate", str(model("translate-rnn")), "--data", str(data)], capsys)
    assert code == 0
    assert (out + err).count("sacreBLEU") == 1 and "sacreBLEU" in out


# ---------------------------------------------------------------------------- 7. every bad input, one line each
def _argv_cases(tmp_path: Path, model) -> list[tuple[str, list[str], Path | None]]:
    reviews = tmp_path / "reviews.csv"
    reviews.write_text("text,label\n" + "great film,pos\nawful plot,neg\n" * 10, encoding="utf-8")
    empty_label = tmp_path / "empty-label.csv"
    empty_label.write_text("text,label\ngreat film,pos\nawful,neg\nmeh,\n", encoding="utf-8")
    (tmp_path / "taken.txt").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    lm_dir = model("lm-rnn")
    (lm_dir / "checkpoint.pt").write_bytes(b"a checkpoint")
    train = ["train", "classify", "--data", str(reviews), "--no-progress", "--out"]
    return [
        ("misspelt flag", [*train, str(tmp_path / "a"), "--epocs", "2"], tmp_path / "a"),
        ("out is a file", [*train, str(tmp_path / "taken.txt")], tmp_path / "taken.txt"),
        ("out under a file", [*train, str(tmp_path / "taken.txt" / "sub")], tmp_path / "taken.txt"),
        ("out where nothing can be made", [*train, "/proc/seqlab-x"], Path("/proc/seqlab-x")),
        ("resume, no out", [*train, str(tmp_path / "b"), "--resume"], tmp_path / "b"),
        ("resume, empty out", [*train, str(empty), "--resume"], empty),
        ("resume, another task", [*train, str(lm_dir), "--resume"], lm_dir),
        ("empty label", ["train", "classify", "--data", str(empty_label), "--out", str(tmp_path / "c")],
         tmp_path / "c"),
        ("bad setting value", [*train, str(tmp_path / "d"), "--epochs", "0"], tmp_path / "d"),
        ("argument not UTF-8", ["translate", str(model("translate-rnn")), "der \udcff hund"], None),
        ("prompt not UTF-8", ["generate", str(lm_dir), "--prompt", "The \udcff"], None),
        ("no such model", ["predict", str(tmp_path / "nothing"), "text"], None),
    ]


def test_every_bad_input_gives_one_error_line_and_leaves_out_as_it_was(tmp_path, capsys, model):
    for name, argv, out in _argv_cases(tmp_path, model):
        before = listing(out) if out is not None else None
        code, stdout, err = run_cli(argv, capsys)
        assert code == 2, (name, err)
        one_error_line(err)
        assert stdout == "", name
        if out is not None:
            assert listing(out) == before, name


def test_a_bad_input_through_the_installed_command(tmp_path):
    """The same through a real process: status 2, one line, no traceback (one case: each start imports torch)."""
    (tmp_path / "taken.txt").write_text("x")
    result = subprocess.run([sys.executable, "-m", "seqlab.cli", "train", "classify", "--out",
                             str(tmp_path / "taken.txt" / "sub")], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert result.returncode == 2
    assert one_error_line(result.stderr).endswith("taken.txt is a file, so no directory can be made below it")
    assert result.stdout == ""
