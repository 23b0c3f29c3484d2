"""The report's provenance section: what produced these numbers, so that a reader can rerun them.

The matrix as run, each checkpoint (path, backend settings, size, training FLOPs), each method's
decoding settings and config, the seeds, and every `thinkbench run` session that wrote records
(date, host, threads, device, package versions, commit).
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from harness.store import load_sessions


def _first(values: pd.Series) -> str:
    """The first recorded value ("" when none: records imported from elsewhere lack some)."""
    known = values.dropna()
    return str(known.iloc[0]) if len(known) else ""


def _all(values: pd.Series) -> str:
    return "; ".join(sorted({str(v) for v in values.dropna()}))


def checkpoints_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per checkpoint: where it is, how the backend ran it, its size and training cost."""
    rows = [{"checkpoint": ckpt, "path": _first(g["checkpoint_path"]), "backend": _first(g["backend"]),
             "backend settings": _first(g["backend_config"]), "params": f"{g['policy_params'].max():,}",
             "train FLOPs": f"{g['train_flops'].max():.3g}", "post-train FLOPs": f"{g['post_train_flops'].max():.3g}"}
            for ckpt, g in records.groupby("checkpoint", sort=True)]
    return pd.DataFrame(rows)


def methods_table(records: pd.DataFrame) -> pd.DataFrame:
    """One row per method label: its registered method, verifier, config, decoding and seeds."""
    rows = [{"method": label, "registered as": _first(g["method_name"]), "verifier": _first(g["verifier"]),
             "config": _first(g["method_config"]), "verifier config": _first(g["verifier_config"]),
             "sampling": _all(g["sampling"]), "budgets": ", ".join(str(b) for b in sorted(set(g["budget"]))),
             "seeds": ", ".join(str(s) for s in sorted(set(g["seed"])))}
            for label, g in records.groupby("method", sort=True)]
    return pd.DataFrame(rows)


def sessions_table(run_dir: str | Path) -> pd.DataFrame:
    """One row per `thinkbench run` session that computed cells of this run."""
    rows = [{"started": s.get("started", ""), "host": s.get("host", ""), "device": s.get("device", ""),
             "cpus / torch threads": f"{s.get('cpus', '?')} / {s.get('torch_threads', '?')}",
             "python": s.get("python", ""), "commit": s.get("commit") or "(not a git checkout)",
             "cells run": s.get("cells", ""),
             "packages": ", ".join(f"{k} {v}" for k, v in sorted(s.get("packages", {}).items()))}
            for s in load_sessions(run_dir)]
    return pd.DataFrame(rows)


def provenance_html(run_dir: str | Path, records: pd.DataFrame) -> str:
    """The section as HTML: matrix YAML, checkpoints, methods, sessions."""
    run_dir = Path(run_dir)
    matrix = run_dir / "matrix.yaml"
    yaml_text = matrix.read_text(errors="replace") if matrix.is_file() else "(no matrix.yaml in the run directory)"
    sessions = sessions_table(run_dir)
    sessions_html = (sessions.to_html(index=False, escape=True, border=0) if len(sessions) else
                     "<p>No session log (a run made before thinkbench kept one, or an import).</p>")
    return (
        "<h2 id='provenance'>Provenance</h2>"
        "<p>What produced these numbers: the matrix as run, each checkpoint, each method's settings, "
        "and every <code>thinkbench run</code> session that wrote records.</p>"
        f"<details><summary>matrix.yaml</summary><pre>{html.escape(yaml_text)}</pre></details>"
        "<h3>Checkpoints</h3>" + checkpoints_table(records).to_html(index=False, escape=True, border=0)
        + "<h3>Methods, decoding and seeds</h3>" + methods_table(records).to_html(index=False, escape=True, border=0)
        + "<h3>Sessions</h3>" + sessions_html)


def provenance_markdown(run_dir: str | Path, records: pd.DataFrame) -> str:
    """A short Markdown version: checkpoints and sessions (the HTML has everything)."""
    sessions = load_sessions(run_dir)
    lines = ["", "## Provenance", ""]
    for _, r in checkpoints_table(records).iterrows():
        lines.append(f"- checkpoint `{r['checkpoint']}`: `{r['path']}` ({r['backend']}, {r['params']} params, "
                     f"train FLOPs {r['train FLOPs']}, its base's included)")
    for s in sessions:
        lines.append(f"- session {s.get('started', '')} on {s.get('host', '')} ({s.get('device', '')}, "
                     f"{s.get('torch_threads', '?')} threads), commit {s.get('commit') or 'n/a'}: "
                     + json.dumps(s.get("packages", {}), sort_keys=True))
    return "\n".join(lines) + "\n"
