"""Sequence tagging: named entities, part of speech, chunks (``seqlab train tag``, ``seqlab tag``).

Modules: :mod:`.recipe` (config, CoNLL data, vocabulary, the training task), :mod:`.predictor` (a loaded tagger),
:mod:`.commands` (``seqlab tag``), :mod:`.serve` (the ``tag`` route).
"""

from seqlab.tasks.base import TaskSpec, register_task
from seqlab.tasks.tag import commands, predictor, recipe

SPEC = register_task(TaskSpec(
    name="tag", description="sequence tagging (named entities, part of speech, chunks)", package=__name__,
    schema=recipe.SCHEMA, train=recipe.train, load=predictor.load, evaluate=predictor.evaluate,
    add_commands=commands.add_commands, add_evaluate_options=commands.add_evaluate_options,
    format_report=commands.format_report))
