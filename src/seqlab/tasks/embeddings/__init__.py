"""Word embeddings: train word2vec / fastText-style vectors on running text, score them on word similarity and
analogies (``seqlab train embeddings``, ``seqlab evaluate EMB_DIR``, ``seqlab export-vectors``).

Modules: :mod:`.config` (its settings; no torch), :mod:`.corpus` (text -> a vocabulary and one id stream, cached),
:mod:`.windows` (numpy: subsampling, shrinking windows, noise words), :mod:`.recipe` (the training task),
:mod:`.predictor` (a loaded model: vectors, neighbours, analogies, evaluation), :mod:`.vectors` (reading a model
directory's vectors without torch, the word2vec text format), :mod:`.commands` (``seqlab export-vectors``, the
evaluate options and report), :mod:`.serve` (the ``neighbours`` route). The scoring itself is
:mod:`seqlab.embedding_eval`, shared with pretrained vectors (GloVe, any .txt/.vec).
"""

from seqlab.tasks.base import TaskSpec, register_task

SPEC = register_task(TaskSpec(
    name="embeddings", description="word vectors (word2vec skip-gram/CBOW, fastText subwords) from running text",
    package=__name__, schema=f"{__name__}.config:SCHEMA", train=f"{__name__}.recipe:train",
    load=f"{__name__}.predictor:load", evaluate=f"{__name__}.predictor:evaluate",
    add_commands=f"{__name__}.commands:add_commands",
    add_evaluate_options=f"{__name__}.commands:add_evaluate_options",
    format_report=f"{__name__}.commands:format_report"))
