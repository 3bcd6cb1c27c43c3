"""Translation between two languages (``seqlab train translate``, ``seqlab translate``).

Modules: :mod:`.recipe` (config, subword encoding, the training task, search), :mod:`.predictor` (a loaded
translator), :mod:`.commands` (``seqlab translate`` and its attention views), :mod:`.serve` (the ``translate`` route).
"""

from seqlab.tasks.base import TaskSpec, register_task
from seqlab.tasks.translate import commands, page, predictor, recipe

SPEC = register_task(TaskSpec(
    name="translate", description="translation between two languages (Multi30k, eng-fra, ...)", package=__name__,
    schema=recipe.SCHEMA, train=recipe.train, load=predictor.load, evaluate=predictor.evaluate,
    add_commands=commands.add_commands, add_evaluate_options=commands.add_evaluate_options,
    format_report=commands.format_report, page_script=page.page_script))
