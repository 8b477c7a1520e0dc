"""Where a model runs: `--device auto|cpu|cuda|mps` and the teacher's mixed precision on it.

`auto` picks CUDA, then Apple's MPS, then the CPU. Mixed precision (`--precision auto`) is bf16 on a
CUDA device that supports it, else fp16 on CUDA (trained through a gradient scaler), and float32 on the CPU
and MPS, so CPU results never change with these options. Asking for a device that is not there is a
one-line error, never a silent fall back to the CPU. What is saved (checkpoints, artifacts) always holds CPU
tensors, so a run resumes, and a model loads, on any device.
"""
from __future__ import annotations

import contextlib
import copy
import itertools
import re

import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "float32", "bfloat16", "float16")
CPU = torch.device("cpu")
_CUDA_INDEX = re.compile(r"cuda:\d+")


def valid_device_name(name: str) -> bool:
    """True for a --device value: auto, cpu, cuda, cuda:N or mps (whether it is present is checked later)."""
    return name in DEVICES or bool(_CUDA_INDEX.fullmatch(name))


# field -> (is the value valid, what is expected), for config_io.check_options in the configs that run models
DEVICE_OPTION_RULES = {"device": (valid_device_name, "one of auto, cpu, cuda, cuda:N, mps")}
PRECISION_OPTION_RULES = {"precision": (lambda v: v in PRECISIONS, f"one of {', '.join(PRECISIONS)}")}


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(name: str = "auto") -> torch.device:
    """The torch.device for a --device value; `auto` is cuda, else mps, else cpu. A device that is not
    present is a one-line ValueError."""
    if not valid_device_name(name):
        raise ValueError(f"device must be {DEVICE_OPTION_RULES['device'][1]}, got {name!r} (--device).")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "mps" if _mps_available() else "cpu")
    if name.startswith("cuda"):
        _check_cuda(name)
    if name == "mps" and not _mps_available():
        raise ValueError("--device mps: Apple's MPS backend is not available here; use --device cpu or auto.")
    return torch.device(name)


def _check_cuda(name: str) -> None:
    """Refuse `cuda` / `cuda:N` when torch sees no such CUDA device."""
    if not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is available to this torch "
                         f"({torch.__version__}); use --device cpu or auto.")
    index = int(name.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                         f"numbered from 0.")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """The autocast dtype for a --precision value on `device`; float32 means no autocast.

    `auto` is bf16 on a CUDA device that supports it, else fp16 there, and float32 elsewhere; bf16 and fp16
    are refused off CUDA (and bf16 on a GPU without it)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be {PRECISION_OPTION_RULES['precision'][1]}, got {precision!r} "
                         "(--precision).")
    if precision == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    dtype = getattr(torch, precision)
    if dtype != torch.float32 and device.type != "cuda":
        raise ValueError(f"--precision {precision} is for CUDA GPUs; on {device.type} use float32 or auto.")
    if dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise ValueError("--precision bfloat16: this GPU does not support bfloat16; use float16 or auto.")
    return dtype


def autocast(device: torch.device, dtype: torch.dtype):
    """A context running `device`'s matmuls in `dtype` (a no-op for float32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def grad_scaler(device: torch.device, dtype: torch.dtype) -> torch.amp.GradScaler:
    """A gradient scaler for training in `dtype`: active for fp16 only (elsewhere it passes steps through)."""
    return torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)


def describe(device: torch.device, dtype: torch.dtype = torch.float32) -> dict:
    """What a run records about where it ran: device, its name, precision."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    return {"device": str(device), "device_name": name, "precision": str(dtype).replace("torch.", "")}


def model_device(model: torch.nn.Module) -> torch.device:
    """The device `model`'s weights are on (the CPU for a model without float parameters or buffers)."""
    for tensor in itertools.chain(model.parameters(), model.buffers()):
        return tensor.device
    return CPU


def to_device(tensors: dict, device: torch.device) -> dict:
    """{name: tensor} with every tensor on `device` (the same tensors when they are there already)."""
    return {key: value.to(device) for key, value in tensors.items()}


def to_cpu(value):
    """`value` (a tensor, or dicts, lists and tuples of them) with every tensor on the CPU: what is saved."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return type(value)((key, to_cpu(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(item) for item in value)
    return value


def cpu_state_dict(model: torch.nn.Module) -> dict:
    """A copy of `model`'s state dict on the CPU, independent of the model's later updates."""
    state = model.state_dict()
    copied = type(state)((key, value.detach().to(CPU, copy=True) if isinstance(value, torch.Tensor)
                          else copy.deepcopy(value)) for key, value in state.items())
    if hasattr(state, "_metadata"):  # module versions, which load_state_dict reads
        copied._metadata = state._metadata
    return copied
