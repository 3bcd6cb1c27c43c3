"""Task recipes. Importing this package registers every built-in task."""

from seqlab.tasks import classify, embeddings, lm, tag, translate  # noqa: F401
from seqlab.tasks.base import TASKS, get_task, load_model

__all__ = ["TASKS", "get_task", "load_model"]
