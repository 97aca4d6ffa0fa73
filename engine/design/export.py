"""The designer layer back to YAML: a layer folder that `extends:` the project.

The folder holds `tailor.yaml` (`name:` of the project, so the merged model is the same,
and `extends:` the project folder), `entities/NAME.yaml` for each entity the designer
changed or made (exactly the keys its change sets state), and `roles.yaml` when it changed
role rules. A YAML layer replaces a role's entity rule whole (the designer merges it key
by key), so the export writes each such rule as it is merged. The export is checked before
it is handed over: it must compile to the live model's metadata version, else nothing is
written and DesignRefused says so.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..errors import Problems, ProjectError
from ..model import load_model, load_spec
from ..spec.designer import fold
from ..spec.yamlload import plain

HEADER = ("# Exported from the Tailor designer layer (tailor design export).\n"
          "# A YAML layer over the project it extends: commit it, serve this folder, then\n"
          "# `tailor design clear` — nothing changes for users.\n")


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, default_flow_style=False, width=100)


def layer_files(project: Path, changes: Sequence[Any], extends: str) -> dict[str, str]:
    """{relative path: text} of the exported layer."""
    from .service import DesignRefused

    problems = Problems()
    layer = fold(changes, problems)
    spec = load_spec(project, Problems(), designer=list(changes))[0] if changes else None
    if problems:
        raise DesignRefused(problems.items)
    base_problems = Problems()
    base = load_spec(project, base_problems)[0]
    name = base.settings.get("name") if base is not None else project.name
    settings: dict[str, Any] = {"name": name, "extends": extends}
    files: dict[str, str] = {}
    if layer is not None:
        for key, value in layer.settings.items():
            settings[key] = plain(value)
        for _, document in layer.documents:
            data = plain(document)
            entity = data.pop("entity")
            files[f"entities/{entity}.yaml"] = _dump({"entity": entity, **data})
        roles = layer.designer.roles if layer.designer is not None else None
        if roles and spec is not None:
            out: dict[str, Any] = {}
            for role_name, role in plain(roles).items():
                merged = plain(spec.roles.get(role_name) or {})
                if not base or role_name not in base.roles:
                    out[role_name] = merged
                    continue
                entry = {k: merged[k] for k in role if k != "entities" and k in merged}
                if "entities" in role:
                    entry["entities"] = {e: (merged.get("entities") or {}).get(e) for e in role["entities"]}
                out[role_name] = entry
            files["roles.yaml"] = "# yaml-language-server: $schema=../schemas/roles.schema.json\n" + _dump({"roles": out})
    files["tailor.yaml"] = HEADER + _dump(settings)
    return files


def write_layer(project: Path, changes: Sequence[Any], to: Path) -> Path:
    """Write the exported layer into `to` (new or empty) and check it compiles to the live
    model's metadata version; returns `to`."""
    from .service import DesignRefused

    if to.exists() and (not to.is_dir() or any(to.iterdir())):
        raise DesignRefused(reason=f"{to} exists and is not an empty folder", reason_zh=f"{to} 已存在且不是空文件夹")
    extends = os.path.relpath(os.path.abspath(project), os.path.abspath(to))
    files = layer_files(project, changes, extends)
    created = not to.exists()
    to.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (to / rel).parent.mkdir(parents=True, exist_ok=True)
        (to / rel).write_text(text, encoding="utf-8")
    try:
        live = load_model(project, designer=list(changes) or None)
        exported = load_model(to)
        if exported.version != live.version:
            raise DesignRefused(reason=f"the exported layer compiles to metadata {exported.version}, the live model is "
                                f"{live.version}; nothing was exported",
                                reason_zh=f"导出的层编译为元数据 {exported.version}，与在用模型 {live.version} 不同；未导出")
    except (ProjectError, DesignRefused):
        if created:
            shutil.rmtree(to, ignore_errors=True)
        else:
            for child in list(to.iterdir()):
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        raise
    return to


def zip_layer(project: Path, changes: Sequence[Any]) -> bytes:
    """The exported layer as a zip (one folder named after the project + "_designer");
    its `extends:` is `../PROJECT_FOLDER`: unzip it next to the project folder."""
    folder = f"{project.resolve().name}_designer"
    with tempfile.TemporaryDirectory() as tmp:
        # written and checked beside a copy-free symlink of the project, so `extends` resolves
        target = Path(tmp) / folder
        link = Path(tmp) / project.resolve().name
        link.symlink_to(project.resolve(), target_is_directory=True)
        write_layer(link, changes, target)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(target.rglob("*")):
                if path.is_file():
                    archive.write(path, f"{folder}/{path.relative_to(target)}")
        return buffer.getvalue()
