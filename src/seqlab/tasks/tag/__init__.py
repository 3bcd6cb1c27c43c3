"""Sequence tagging: named entities, part of speech, chunks (``seqlab train tag``, ``seqlab tag``).

Modules: :mod:`.config` (its settings; no torch), :mod:`.recipe` (CoNLL data, vocabulary, the training task),
:mod:`.predictor` (a loaded tagger), :mod:`.commands` (``seqlab tag``), :mod:`.serve` (the ``tag`` route).
"""

from seqlab.tasks.base import TaskSpec, register_task

DEFAULT_BATCH = 64  # sentences per batch when tagging (here, where ``seqlab tag --help`` reads it without torch)

# each part as "module:attribute", imported when first used: registering the task imports no torch
SPEC = register_task(TaskSpec(
    name="tag", description="sequence tagging (named entities, part of speech, chunks)", package=__name__,
    schema=f"{__name__}.config:SCHEMA", train=f"{__name__}.recipe:train", load=f"{__name__}.predictor:load",
    evaluate=f"{__name__}.evaluate:evaluate", add_commands=f"{__name__}.commands:add_commands",
    add_evaluate_options=f"{__name__}.commands:add_evaluate_options",
    format_report=f"{__name__}.commands:format_report"))
