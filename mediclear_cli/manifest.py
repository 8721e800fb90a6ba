"""What identifies a run and its files: every input's bytes and SHA-256, the content-derived run id, and
the head of manifest.json (RunFolder.write_manifest adds the outputs it recorded; verify.py checks it all)."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mediclear_cli import __version__
from mediclear_cli.sources import origin_of, sha256_of


def hash_inputs(files: dict[str, list[Path]]) -> list[dict[str, Any]]:
    """Every input's name, size and SHA-256 (of its bytes where they lie, for a remote file left in place)."""
    entries = []
    for role, paths in files.items():
        for path in paths:
            entries.append({"file": origin_of(path), "bytes": path.stat().st_size, "sha256": sha256_of(path),
                            "role": role})
    return entries


def run_id_of(input_entries: list[dict[str, Any]], options: dict[str, Any]) -> str:
    """Content-derived: the same inputs, options and tool version always give the same run id."""
    basis = json.dumps(
        {"inputs": [(e["role"], e["sha256"]) for e in input_entries], "options": options, "version": __version__},
        sort_keys=True,
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def manifest_head(command: str, run_id: str, spec_options: dict[str, Any], inputs: list[dict[str, Any]],
              controls: dict[str, Any], resources: dict[str, Any] | None = None) -> dict[str, Any]:
    """The manifest's head; RunFolder.write_manifest adds every output it recorded."""
    return {
        "tool": "mediclear",
        "tool_version": __version__,
        "command": command,
        "run_id": run_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "options": spec_options,
        "inputs": inputs,
        "control_totals": controls,
        "resources": resources or {},
    }
