"""The peers' own environment: a virtual environment under ``benchmarks/.peer-env/`` (git-ignored) holding the
same torch as this one, pytorch-lr-finder and fastai at pinned versions, and nothing of the package's. The
package never depends on them: the peers' measurements run there, in a subprocess, while ``onecycle`` and the
hand-written loops run here (the same torch release, the same wheel where the local one is served).

fastai's requirements name torchvision and spaCy. torchvision's release for torch 2.13 is built against the CUDA
build of torch and does not import beside the CPU one (its ``_C.so`` needs ``libc10_cuda.so``), and spaCy serves
fastai's text models; both are left out (``--no-deps``) and fastai's other requirements are installed at the
versions pinned here. ``fastai.basics``, ``fastai.callback.schedule`` and ``fastai.callback.progress``, all that
is measured, import without them; ``fastai.vision`` does not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common.paths import ROOT
from benchmarks.speed.plan import KINDS

ENV_DIR = ROOT / "benchmarks" / ".peer-env"
MARKER = "onecycle-peers.json"
"""The file, inside the environment, that says it is complete and what it was built with."""

PEERS = ("torch-lr-finder==0.2.2", "fastai==2.8.12")
"""The peers, installed without their requirements (see the module's text)."""
DEPENDENCIES = ("fastcore==2.2.41", "fasttransform==0.0.5", "fastprogress==1.1.6", "fastdownload==0.0.8",
                "plum-dispatch==2.9.0", "numpy==2.4.6", "matplotlib==3.11.2", "pandas==3.1.1", "scipy==1.17.1",
                "scikit-learn==1.9.1", "pyyaml==6.0.4", "requests==2.34.2", "cloudpickle==3.1.3", "packaging==26.4",
                "tqdm==4.70.1", "pillow==13.0.0")
"""The peers' requirements (fastai's, less torchvision and spaCy), at the versions that worked together here."""
IMPORTS = tuple(dict.fromkeys(m for kind in KINDS.values() if kind.peers for m in kind.imports))
"""What the peers' measurements import: an environment where one fails is not used."""
INSTALL_TIMEOUT_S = 1800


def torch_requirement() -> str:
    """The torch of this environment, pinned (its release, without the local build tag: ``torch==2.13.0``)."""
    import torch

    return f"torch=={torch.__version__.split('+')[0]}"


def requirements() -> list[str]:
    """Everything the environment is built from, pinned."""
    return [torch_requirement(), *PEERS, *DEPENDENCIES]


def python(env: Path) -> Path:
    """The environment's interpreter."""
    return env / "bin" / "python"


def status(env: Path) -> dict[str, Any]:
    """What the environment holds: ``ready`` when it was completed with today's :func:`requirements` (else
    ``reason`` says why not), with the versions it recorded."""
    marker = env / MARKER
    if not python(env).exists() or not marker.exists():
        return {"ready": False, "reason": f"no peer environment at {env}"}
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError) as err:
        return {"ready": False, "reason": f"{marker} cannot be read ({err})"}
    if not isinstance(recorded, dict) or recorded.get("requirements") != requirements():
        return {"ready": False, "reason": f"the peer environment at {env} was built from other pins"}
    return {"ready": True, "reason": None, **{k: recorded[k] for k in ("versions", "install_s") if k in recorded}}


def _run(command: list[str], what: str) -> str | None:
    """Run ``command``; ``None`` when it succeeds, else why it failed (``what`` it was doing, its last line)."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return f"{what}: no answer in {INSTALL_TIMEOUT_S} s"
    except OSError as err:
        return f"{what}: {err}"
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        return f"{what} failed: {lines[-1] if lines else f'exit status {done.returncode}'}"
    return None


def create(env: Path, say: Callable[[str], None]) -> dict[str, Any]:
    """Build the environment at ``env`` from scratch (a new virtual environment, torch, the peers without their
    requirements, then those requirements, then a check that the measured modules import) and record it; the
    :func:`status` it ends in, with ``reason`` naming the step that failed."""
    start = time.perf_counter()
    py = str(python(env))
    pip = [py, "-m", "pip", "install", "--quiet"]
    steps = [([sys.executable, "-m", "venv", "--clear", str(env)], "creating the virtual environment"),
             ([*pip, torch_requirement()], f"installing {torch_requirement()}"),
             ([*pip, "--no-deps", *PEERS], f"installing {', '.join(PEERS)} (without their requirements)"),
             ([*pip, *DEPENDENCIES], "installing the peers' requirements"),
             ([py, "-c", "; ".join(f"import {m}" for m in IMPORTS)], f"importing {', '.join(IMPORTS)}")]
    for command, what in steps:
        say(f"peer environment: {what}")
        failure = _run(command, what)
        if failure is not None:
            return {"ready": False, "reason": failure, "install_s": time.perf_counter() - start}
    listed = subprocess.run([py, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, cwd=ROOT)
    names = {"torch", *(r.split("==")[0] for r in (*PEERS, *DEPENDENCIES))}
    versions = {p["name"].lower(): p["version"] for p in json.loads(listed.stdout or "[]")
                if p["name"].lower() in names}
    from onecycle.rundir import write_json

    record = {"requirements": requirements(), "versions": dict(sorted(versions.items())),
              "install_s": time.perf_counter() - start}
    write_json(env / MARKER, record)
    return {"ready": True, "reason": None, "versions": record["versions"], "install_s": record["install_s"]}
