"""Text classification: sentiment, topics, any labels (``seqlab train classify``, ``seqlab predict``).

Modules: :mod:`.config` (its settings; no torch), :mod:`.recipe` (encoding, the training task), :mod:`.predictor` (a
loaded classifier), :mod:`.explain` (why a label), :mod:`.commands` (``seqlab predict``), :mod:`.serve` (the
``classify`` route).
"""

from seqlab.tasks.base import TaskSpec, register_task

# each part as "module:attribute", imported when first used: registering the task imports no torch
SPEC = register_task(TaskSpec(
    name="classify", description="text classification (sentiment, topics, ...)", package=__name__,
    schema=f"{__name__}.config:SCHEMA", train=f"{__name__}.recipe:train", load=f"{__name__}.predictor:load",
    evaluate=f"{__name__}.evaluate:evaluate", add_commands=f"{__name__}.commands:add_commands",
    add_evaluate_options=f"{__name__}.commands:add_evaluate_options",
    format_report=f"{__name__}.commands:format_report"))
