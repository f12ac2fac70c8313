"""Data-parallel training through PyTorch's own engine: ``torch.distributed``, as ``torchrun`` launches it.

Nothing here launches processes or talks over a network of its own: it reads the process group torch set up (the
default group, the one ``torch.distributed.init_process_group`` made) and uses its collectives. Without one, or with
a single process, every function is the identity and costs nothing, so the same code serves one process and many.

The rules the rest of the package follows:

* every rank takes the same decisions: losses and metrics are reduced across ranks before anything is decided on
  them (:func:`all_sum`), and what only one rank can know (a signal, the clock) is rank 0's, sent to the others
  (:func:`rank0_decides`);
* the training loop hands its model to the collectives through ``DistributedDataParallel`` (:func:`wrap`), and
  checkpoints, evaluation and the range test's snapshot work on the model inside it (:func:`unwrap`).
"""

from __future__ import annotations

import datetime
import os
import warnings

import torch
from torch import distributed as dist
from torch import nn

LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""The environment ``torchrun`` gives each process it starts; a process with ``WORLD_SIZE`` set was launched by it."""


def active() -> bool:
    """Whether a process group of more than one process is set up."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    """Processes in the default group (1 without one)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default group (0 without one)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    """Whether this process is rank 0: the one that writes files and prints."""
    return rank() == 0


def launched() -> bool:
    """Whether ``torchrun`` (or another launcher of its kind) started this process with more than one in all."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def launched_as(command: str, processes: int | None = None) -> str:
    """``command`` (``onecycle ...``) as this process was launched: as it is without a launcher, else under
    ``torchrun`` with as many processes (``processes``: with that many instead, on one machine)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    processes = processes if processes is not None else world
    if processes == 1:
        return command
    words = command.removeprefix("onecycle ")
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)) or world) if processes == world else processes
    if local == processes:
        return f"torchrun --standalone --nproc_per_node {processes} -m onecycle {words}"
    return (f"torchrun --nnodes {processes // local} --nproc_per_node {local} --rdzv-endpoint HOST:PORT -m onecycle "
            f"{words} on each machine")


def local_rank() -> int:
    """This process's rank on its machine, as the launcher gave it (0 without one)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def init_from_launcher(use_cuda: bool, timeout_s: float = 1800.0) -> None:
    """Join the process group the launcher describes (:data:`LAUNCH_VARIABLES`): gloo for CPU tensors and, with
    ``use_cuda``, nccl for CUDA ones, each process on the GPU of its local rank. A group already set up is kept."""
    if use_cuda:
        torch.cuda.set_device(local_rank())
    if not dist.is_initialized():
        dist.init_process_group("cpu:gloo,cuda:nccl" if use_cuda else "gloo",
                                timeout=datetime.timedelta(seconds=timeout_s))


def shutdown() -> None:
    """Leave the process group, when there is one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_sum(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` summed over the ranks, in place (unchanged with one process)."""
    if active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def mean(value: float, device: torch.device | str = "cpu") -> float:
    """``value`` averaged over the ranks (through a tensor on ``device``: the default group's backend must reach it,
    so a GPU for nccl); ``value`` itself with one process."""
    if not active():
        return value
    return float(all_sum(torch.tensor([value], dtype=torch.float64, device=device))) / world_size()


_control_groups: dict[int, object] = {}


def _control_group() -> object:
    """A gloo group over the same ranks for host-side decisions, so that none waits for a GPU's queue of work (the
    default group serves when it is gloo already). Made on first use, by every rank at the same call."""
    if "gloo" in str(dist.get_backend()):
        return None  # the default group: gloo for CPU tensors
    key = id(dist.group.WORLD)
    if key not in _control_groups:
        _control_groups[key] = dist.new_group(backend="gloo")
    return _control_groups[key]


def rank0_decides(flag: bool) -> bool:
    """Rank 0's ``flag``, on every rank: what one process alone can know (a signal received, a clock's reading) made
    the decision of all, so that none stops or reads while the others go on."""
    if not active():
        return flag
    value = torch.tensor([int(flag)], dtype=torch.int64)
    dist.broadcast(value, src=0, group=_control_group())
    return bool(value.item())


def max_across_ranks(value: int) -> int:
    """The largest of the ranks' ``value`` (on the host: nothing waits for a GPU), on every rank."""
    if not active():
        return value
    box = torch.tensor([value], dtype=torch.int64)
    dist.all_reduce(box, op=dist.ReduceOp.MAX, group=_control_group())
    return int(box.item())


def broadcast_object(obj: object) -> object:
    """Rank 0's ``obj`` (any picklable object: it is trusted, as rank 0 is the same program), on every rank."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, group=_control_group())
    return box[0]


def barrier() -> None:
    """Wait until every rank is here."""
    if active():
        dist.barrier(group=_control_group())


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a ``DistributedDataParallel`` (or ``torch.compile``) wrapper; ``model`` itself otherwise."""
    while True:
        inner = getattr(model, "module", None) if isinstance(model, nn.parallel.DistributedDataParallel) else None
        inner = inner if inner is not None else getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def wrap(model: nn.Module, sync_batchnorm: bool = False) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` when several processes train (``sync_batchnorm``: its BatchNorm
    layers first made ``SyncBatchNorm``, whose statistics span the global batch); ``model`` itself otherwise."""
    if not active():
        return model
    if sync_batchnorm:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    # A weight with a dimension of size 1 (a first conv of one input channel) gets gradients whose strides differ from
    # its bucket's only along that dimension: the same memory order, which torch warns of at the first backward.
    warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
    return nn.parallel.DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)


def sync_buffers(model: nn.Module) -> None:
    """Give every rank rank 0's buffers (BatchNorm's running statistics, which each rank updates from its own images),
    so that evaluation and checkpoints see one model."""
    if not active():
        return
    for buffer in unwrap(model).buffers():
        dist.broadcast(buffer.data, src=0)
