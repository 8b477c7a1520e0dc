"""Task data: task specs (GLUE presets or your own files and columns), validated reading of every format, splits."""
from featherweight.data.glue import DataError, TaskData, open_text, read_task_file, read_text
from featherweight.data.splits import (DataConfig, dev_splits, heldout_indices, load_splits, task_directory,
                                       train_path)
from featherweight.data.tasks import TASKS, TaskSpec, get_task, task_from_record

__all__ = ["DataConfig", "DataError", "TASKS", "TaskData", "TaskSpec", "dev_splits", "get_task",
           "heldout_indices", "load_splits", "open_text", "read_task_file", "read_text", "task_directory",
           "task_from_record", "train_path"]
