"""A toy fifth task, registered from outside seqlab: learn to spell each word backwards (one word -> one word).

It proves the seam: this package is a task like the built-in ones (``recipe``, ``predictor``, ``commands``,
``serve``, ``page.js``) and gets ``seqlab train reverse``, ``seqlab evaluate``, ``seqlab reverse`` and a served
``/reverse`` route without any change to seqlab itself (docs/adding-a-task.md).
"""

from seqlab.tasks.base import TaskSpec, register_task
from toy_reverse import commands, predictor, recipe

SPEC = register_task(TaskSpec(
    name="reverse", description="spell each word backwards (a toy task)", package=__name__,
    schema=recipe.SCHEMA, train=recipe.train, load=predictor.load, evaluate=predictor.evaluate,
    add_commands=commands.add_commands, add_evaluate_options=commands.add_evaluate_options,
    format_report=commands.format_report))
