"""Translation between two languages (``seqlab train translate``, ``seqlab translate``).

Modules: :mod:`.config` (its settings; no torch), :mod:`.recipe` (subword encoding, the training task, search),
:mod:`.predictor` (a loaded translator), :mod:`.commands` (``seqlab translate`` and its attention views),
:mod:`.serve` (the ``translate`` route).
"""

from seqlab.tasks.base import TaskSpec, register_task

# each part as "module:attribute", imported when first used: registering the task imports no torch
SPEC = register_task(TaskSpec(
    name="translate", description="translation between two languages (Multi30k, eng-fra, ...)", package=__name__,
    schema=f"{__name__}.config:SCHEMA", train=f"{__name__}.recipe:train", load=f"{__name__}.predictor:load",
    evaluate=f"{__name__}.predictor:evaluate", add_commands=f"{__name__}.commands:add_commands",
    add_evaluate_options=f"{__name__}.commands:add_evaluate_options",
    format_report=f"{__name__}.commands:format_report", page_script=f"{__name__}.page:page_script"))
