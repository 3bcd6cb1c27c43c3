"""Language models: perplexity and generation (``seqlab train lm``, ``seqlab generate``).

Modules: :mod:`.config` (its settings; no torch), :mod:`.recipe` (the token stream, the training task),
:mod:`.predictor` (a loaded language model), :mod:`.commands` (``seqlab generate``), :mod:`.serve` (the ``generate``
route).
"""

from seqlab.tasks.base import TaskSpec, register_task

# defaults the commands show, here where ``seqlab generate --help`` reads them without torch
DEFAULT_MAX_TOKENS = 50  # tokens generated when not told
EVAL_STREAMS = 10  # parallel streams when scoring a split (the PyTorch word_language_model example's eval batch)

# each part as "module:attribute", imported when first used: registering the task imports no torch
SPEC = register_task(TaskSpec(
    name="lm", description="language models (WikiText-2 or your own text): perplexity, generation", package=__name__,
    schema=f"{__name__}.config:SCHEMA", train=f"{__name__}.recipe:train", load=f"{__name__}.predictor:load",
    evaluate=f"{__name__}.predictor:evaluate", add_commands=f"{__name__}.commands:add_commands",
    add_evaluate_options=f"{__name__}.commands:add_evaluate_options",
    format_report=f"{__name__}.commands:format_report"))
