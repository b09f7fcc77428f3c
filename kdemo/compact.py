"""Store a student small: only what differs from a base model that an installed package provides.

A student distilled from ``teacher-copy`` or ``me5-small`` shares its tokenizer, its configs and
(with frozen word embeddings) most of its weights with a base folder that the offline packages
already ship. ``pack_student`` keeps just the difference: every weight as ``trained - base`` in
float16 (the differences are small, so float16 keeps them to ~1e-4 relative error), tensors the
base lacks in float16, and every file that is not byte-identical to the base's. ``unpack_student``
rebuilds a plain sentence-transformers folder from it. Layout of a packed student::

    student-delta/
        base.json          {"base": "me5-small", "from_base": [...files copied from the base...]}
        delta.safetensors  float16 differences (or full tensors) for model.safetensors
        <other files>      files that differ from the base (module configs, the Dense layer, ...);
                           a JSON file that differs in a few top-level keys is stored as a patch in base.json
"""

from __future__ import annotations

import filecmp
import json
import logging
import shutil
from pathlib import Path

from kdemo.errors import KdemoError
from kdemo.storage import atomic_directory

logger = logging.getLogger(__name__)

WEIGHTS = "model.safetensors"
DELTA = "delta.safetensors"
_FULL_PREFIX = "full::"
_DROPPED = "dropped::"


def base_folder(base: str) -> Path:
    """The sentence-transformers folder a packed student is relative to: a student kind's own base
    (``me5-small``) or a teacher's folder."""
    from kdemo.models import resolve_model_name
    from kdemo.students import student_kind

    kind = student_kind(base)
    if kind.base_folder is not None and kind.matches(base):
        return kind.base_folder()
    path = Path(resolve_model_name(base))
    if not (path / "modules.json").exists():
        raise KdemoError(f"The base model {base!r} is not an installed local folder; cannot unpack this student.")
    return path


def pack_student(student_dir: Path, base: str, out_dir: Path) -> Path:
    """Write ``out_dir`` (atomically) holding only what ``student_dir`` adds to the base model."""
    import torch
    from safetensors.torch import load_file

    base_dir = base_folder(base)
    trained = load_file(str(student_dir / WEIGHTS))
    reference = load_file(str(base_dir / WEIGHTS))
    packed: dict[str, torch.Tensor] = {}
    for name, tensor in trained.items():
        ref = reference.get(name)
        if ref is not None and ref.shape == tensor.shape:
            if not torch.equal(ref, tensor):
                packed[name] = (tensor.float() - ref.float()).half()
        else:
            packed[_FULL_PREFIX + name] = tensor.half()
    for name in reference.keys() - trained.keys():
        packed[_DROPPED + name] = torch.zeros(1, dtype=torch.float16)
    with atomic_directory(out_dir) as tmp:
        _write_pack(tmp, packed, student_dir, base_dir, base)
    return out_dir


def _write_pack(out_dir: Path, packed: dict, student_dir: Path, base_dir: Path, base: str) -> None:
    from safetensors.torch import save_file

    save_file(packed, str(out_dir / DELTA))
    from_base: list[str] = []
    patches: dict[str, dict] = {}
    for path in sorted(p for p in student_dir.rglob("*") if p.is_file()):
        rel = path.relative_to(student_dir).as_posix()
        if rel == WEIGHTS:
            continue
        twin = base_dir / rel
        if twin.is_file() and filecmp.cmp(path, twin, shallow=False):
            from_base.append(rel)
        elif twin.is_file() and (patch := _json_patch(twin, path)) is not None:
            # e.g. tokenizer.json (17 MB) differing only in its truncation and padding settings
            from_base.append(rel)
            patches[rel] = patch
        else:
            (out_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out_dir / rel)
    meta = {"base": base, "from_base": from_base, "json_patches": patches}
    (out_dir / "base.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _json_patch(base_file: Path, new_file: Path) -> dict | None:
    """Top-level keys to set (``set``) and drop (``drop``) to turn one JSON object into another, if small."""
    if base_file.suffix != ".json":
        return None
    try:
        old = json.loads(base_file.read_text(encoding="utf-8"))
        new = json.loads(new_file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(old, dict) or not isinstance(new, dict):
        return None
    patch = {"set": {k: v for k, v in new.items() if old.get(k, object()) != v}, "drop": sorted(set(old) - set(new))}
    return patch if len(json.dumps(patch)) < 100_000 else None


def unpack_student(packed_dir: Path, out_dir: Path) -> Path:
    """Rebuild the full student folder (atomically: built aside, renamed into place at the end)."""
    from safetensors.torch import load_file, save_file

    meta = json.loads((packed_dir / "base.json").read_text(encoding="utf-8"))
    base_dir = base_folder(meta["base"])
    weights = load_file(str(base_dir / WEIGHTS))
    for name, tensor in load_file(str(packed_dir / DELTA)).items():
        if name.startswith(_FULL_PREFIX):
            weights[name[len(_FULL_PREFIX):]] = tensor.float()
        elif name.startswith(_DROPPED):
            weights.pop(name[len(_DROPPED):], None)
        else:
            weights[name] = (weights[name].float() + tensor.float()).to(weights[name].dtype)
    with atomic_directory(out_dir) as tmp:
        for rel in meta["from_base"]:
            (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base_dir / rel, tmp / rel)
        for rel, patch in meta.get("json_patches", {}).items():
            data = json.loads((tmp / rel).read_text(encoding="utf-8"))
            data = {k: v for k, v in data.items() if k not in patch["drop"]} | patch["set"]
            (tmp / rel).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
        for path in packed_dir.rglob("*"):
            rel = path.relative_to(packed_dir).as_posix()
            if path.is_file() and rel not in ("base.json", DELTA):
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, tmp / rel)
        save_file({k: v.contiguous() for k, v in weights.items()}, str(tmp / WEIGHTS), metadata={"format": "pt"})
    logger.info("unpacked %s onto base %s", packed_dir, meta["base"])
    return out_dir


def folder_size(path: Path) -> int:
    """Bytes in a folder, recursively."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
