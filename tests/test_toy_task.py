"""A fifth task registered from outside seqlab gets train, evaluate, its own command and a served route.

The task lives in tests/toy_reverse/ (docs/adding-a-task.md walks through it); nothing in seqlab names it.
"""

import pytest
from fastapi.testclient import TestClient

import seqlab.tasks  # noqa: F401  (the built-in tasks first)
from seqlab.cli import main
from seqlab.errors import SeqlabError
from seqlab.tasks.base import TASKS, register_task, unregister_task

WORDS = "stressed drawer live star parts reward evil rats dog god smart gateman loop pool lager regal"


@pytest.fixture()
def reverse_task():
    import toy_reverse

    if "reverse" not in TASKS:  # a second test re-registers the already imported package
        register_task(toy_reverse.SPEC)
    yield toy_reverse.SPEC
    unregister_task("reverse")
    from seqlab.serve.page import page_html

    page_html.cache_clear()  # the page was built with the toy task's part in it


def test_a_name_can_be_registered_once(reverse_task):
    with pytest.raises(SeqlabError, match="already registered"):
        register_task(reverse_task)


def test_the_toy_task_trains_predicts_evaluates_and_is_served(reverse_task, tmp_path, capsys):
    data = tmp_path / "words.txt"
    data.write_text(WORDS + "\n", encoding="utf-8")
    out = tmp_path / "rev"
    assert main(["train", "reverse", "--data", str(data), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["reverse", str(out), "stressed live", "dog unknownword"]) == 0
    assert capsys.readouterr().out.splitlines() == ["desserts evil", "god unknownword"]
    assert main(["evaluate", str(out), "--data", str(data)]) == 0
    assert "accuracy 1.000 on 16 words" in capsys.readouterr().out
    assert main(["predict", str(out), "stressed"]) == 2  # another task's command refuses the model, naming it
    assert "holds a 'reverse' model" in capsys.readouterr().err

    from seqlab.serve.app import create_app
    from seqlab.serve.loading import load_models

    with TestClient(create_app(load_models([f"rev={out}"], log=lambda *_: None))) as client:
        answer = client.post("/v1/models/rev/reverse", json={"texts": ["star parts"]})
        assert answer.status_code == 200 and answer.json()["results"] == [{"reversed": "rats strap"}]
        info = client.get("/v1/models/rev").json()
        assert info["task"] == "reverse" and info["routes"] == ["reverse"]
        assert client.post("/v1/models/rev/classify", json={"texts": ["x"]}).json()["error"]["code"] == "wrong_task"
        assert 'data-task="reverse"' in client.get("/").text  # its page part is on the page
