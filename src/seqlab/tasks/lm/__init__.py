"""Language models: perplexity and generation (``seqlab train lm``, ``seqlab generate``).

Modules: :mod:`.recipe` (config, the token stream, the training task), :mod:`.predictor` (a loaded language
model), :mod:`.commands` (``seqlab generate``), :mod:`.serve` (the ``generate`` route).
"""

from seqlab.tasks.base import TaskSpec, register_task
from seqlab.tasks.lm import commands, predictor, recipe

SPEC = register_task(TaskSpec(
    name="lm", description="language models (WikiText-2 or your own text): perplexity, generation", package=__name__,
    schema=recipe.SCHEMA, train=recipe.train, load=predictor.load, evaluate=predictor.evaluate,
    add_commands=commands.add_commands, add_evaluate_options=commands.add_evaluate_options,
    format_report=commands.format_report))
