"""Text classification: sentiment, topics, any labels (``seqlab train classify``, ``seqlab predict``).

Modules: :mod:`.recipe` (config, encoding, the training task), :mod:`.predictor` (a loaded classifier),
:mod:`.explain` (why a label), :mod:`.commands` (``seqlab predict``), :mod:`.serve` (the ``classify`` route).
"""

from seqlab.tasks.base import TaskSpec, register_task
from seqlab.tasks.classify import commands, predictor, recipe

SPEC = register_task(TaskSpec(
    name="classify", description="text classification (sentiment, topics, ...)", package=__name__,
    schema=recipe.SCHEMA, train=recipe.train, load=predictor.load, evaluate=predictor.evaluate,
    add_commands=commands.add_commands, add_evaluate_options=commands.add_evaluate_options,
    format_report=commands.format_report))
