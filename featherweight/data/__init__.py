"""GLUE data: task specs, validated TSV reading, download fallback and the held-out split."""
from featherweight.data.glue import DataError, TaskData, open_text, read_task_file, read_text
from featherweight.data.splits import DataConfig, dev_splits, heldout_indices, load_splits, task_directory
from featherweight.data.tasks import TASKS, TaskSpec, get_task

__all__ = ["DataConfig", "DataError", "TASKS", "TaskData", "TaskSpec", "dev_splits", "get_task",
           "heldout_indices", "load_splits", "open_text", "read_task_file", "read_text", "task_directory"]
