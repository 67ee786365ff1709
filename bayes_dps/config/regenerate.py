"""The command line that regenerates a stored run: the bundled config it was made from, with
a ``--set`` for every result-changing key whose stored value differs from that config's."""

from __future__ import annotations

import json
import shlex
from typing import Any

from bayes_dps import configs
from bayes_dps.config.loading import COMMANDS, load_config
from bayes_dps.config.schema import walk
from bayes_dps.runs.fingerprint import PRESENTATION_KEYS, RUNTIME_KEYS


def regenerating_command(
    results: dict[str, Any], command: str, sweep: dict[str, list[Any]] | None = None
) -> str:
    """``bayes-dps COMMAND --config NAME --set ...``: the bundled config the run was made
    from, with a ``--set`` for every key whose value differs from it; for one point of a sweep,
    ``sweep`` (``{dotted key: values}``) adds ``--sweep KEY=V1,V2,...`` in place of its keys'
    ``--set``."""
    sweep = sweep or {}
    cfg = results["config"]
    name = cfg.get("name")
    if name not in configs.bundled():
        return f"bayes-dps {command} --config <the run's config: {name}>"
    base = load_config(configs.bundled()[name], [], command)

    def value(d: dict[str, Any], dotted: str) -> Any:
        for part in dotted.split("."):
            d = d.get(part) if isinstance(d, dict) else None
        return d

    # one --set per schema key, a whole mapping (model_options, a prior) as one value
    sets = [
        f"{dotted}={json.dumps(value(cfg, dotted))}"
        for dotted, _ in walk(COMMANDS[command])
        if dotted.split(".")[0] not in (*PRESENTATION_KEYS, *RUNTIME_KEYS, "sweep")
        and dotted not in sweep
        and value(cfg, dotted) != value(base, dotted)
    ]
    line = f"bayes-dps {command} --config {name}"
    if sets:
        line += " --set " + " ".join(shlex.quote(s) for s in sets)
    for key, values in sweep.items():
        text = ",".join(v if isinstance(v, str) else json.dumps(v) for v in values)
        line += " --sweep " + shlex.quote(f"{key}={text}")
    threads = results.get("provenance", {}).get("threads")
    return line + (f" --threads {threads}" if threads else "")
