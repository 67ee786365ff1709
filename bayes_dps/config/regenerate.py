"""The command line that regenerates a stored run: the bundled config it was made from, with
a ``--set`` for every result-changing key whose stored value differs from that config's."""

from __future__ import annotations

import json
from typing import Any

from bayes_dps import configs
from bayes_dps.config.loading import load_config
from bayes_dps.runs.fingerprint import PRESENTATION_KEYS, RUNTIME_KEYS


def regenerating_command(results: dict[str, Any], command: str) -> str:
    """``bayes-dps COMMAND --config NAME --set ...``: the bundled config the run was made
    from, with a ``--set`` for every key whose value differs from it."""
    cfg = results["config"]
    name = cfg.get("name")
    if name not in configs.bundled():
        return f"bayes-dps {command} --config <the run's config: {name}>"
    base = load_config(configs.bundled()[name], [], command)

    def flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in d.items():
            if isinstance(v, dict) and v and k not in ("model_options",):
                out.update(flat(v, f"{prefix}{k}."))
            else:
                out[f"{prefix}{k}"] = v
        return out

    a, b = flat(base), flat(cfg)
    sets = [
        f"{k}={json.dumps(b[k])}"
        for k in sorted(b)
        if k.split(".")[0] not in (*PRESENTATION_KEYS, *RUNTIME_KEYS, "sweep") and a.get(k) != b[k]
    ]
    line = f"bayes-dps {command} --config {name}"
    if sets:
        line += " --set " + " ".join(f"'{s}'" for s in sets)
    threads = results.get("provenance", {}).get("threads")
    return line + (f" --threads {threads}" if threads else "")
