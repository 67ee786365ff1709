"""Plant known bugs one at a time in a temporary copy of the package and report which tests
catch them — the check that the suite guards what matters (run by hand, not in CI).

    python tests/mutations/run_mutations.py            # every mutation (a few minutes)
    python tests/mutations/run_mutations.py resume-rng psgld-state   # some of them
    python tests/mutations/run_mutations.py --list

Each mutation replaces one exact snippet of one file (the run stops if the snippet is gone:
update the mutation with the code) and runs the tests named for it. A mutation *survives*
when all of them pass; the script exits 1 if any survives.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    what: str


MUTATIONS = [
    Mutation(
        "resume-rng",
        "bayes_dps/training/trainer.py",
        '        set_rng_states(state["rng"])',
        "        pass",
        ("tests/test_resume_exact.py",),
        "trainer resume does not restore the global RNG",
    ),
    Mutation(
        "bayesian-generator",
        "bayes_dps/selection/bayesian.py",
        '        self.rng.load_state_dict(state["rng"])',
        "        pass",
        ("tests/test_resume_exact.py",),
        "the Bayesian rule's generator not restored on resume",
    ),
    Mutation(
        "bads-w",
        "bayes_dps/inference/bads/weights.py",
        '        self.w.copy_(state["w"])',
        "        pass",
        ("tests/test_resume_exact.py",),
        "BADS w not restored on resume",
    ),
    Mutation(
        "kernel-state",
        "bayes_dps/inference/bads/theta.py",
        '        self.buffers = dict(state["buffers"])',
        "        pass",
        ("tests/test_resume_exact.py",),
        "pSGLD preconditioner / SGHMC momentum not restored on resume",
    ),
    Mutation(
        "w-kernel-state",
        "bayes_dps/inference/bads/weights.py",
        "        self.buffer = None if buffer is None else buffer.to(self.w.device)",
        "        self.buffer = None",
        ("tests/test_resume_exact.py",),
        "the weights' pSGLD preconditioner / SGHMC momentum not restored on resume",
    ),
    Mutation(
        "sampler-generator",
        "bayes_dps/inference/bads/sampler.py",
        '            g.set_state(state["generators"][name])',
        "            pass",
        ("tests/test_resume_exact.py",),
        "the BADS sampler's noise generator not restored on resume",
    ),
    Mutation(
        "normaliser-dropped",
        "bayes_dps/inference/bads/drift.py",
        "ll - self.gamma * ll_aux",
        "ll - 0.0 * ll_aux",
        ("tests/test_normaliser.py",),
        "the normaliser's term −γ·ℓ̄ dropped from the w drift",
    ),
    Mutation(
        "normaliser-sign",
        "bayes_dps/inference/bads/drift.py",
        "ll - self.gamma * ll_aux",
        "ll + self.gamma * ll_aux",
        ("tests/test_normaliser.py",),
        "the normaliser's term with its sign flipped",
    ),
    Mutation(
        "aux-meta",
        "bayes_dps/inference/bads/normaliser.py",
        "gaussian_log_prior(params, self.lam) + self.rho_t * (w_b * ll).sum() / big_b",
        "gaussian_log_prior(params, self.lam) + self.rho_t * ll.sum() / big_b",
        ("tests/test_normaliser.py",),
        "the auxiliary chain ignores the weights (targets p(θ'|D_t) unweighted)",
    ),
    Mutation(
        "aux-state",
        "bayes_dps/inference/bads/normaliser.py",
        '        self.state = SGMCMCState(params, dict(state["buffers"]))',
        "        pass",
        ("tests/test_resume_exact.py",),
        "the auxiliary chain θ' not restored on resume",
    ),
    Mutation(
        "aux-window",
        "bayes_dps/inference/bads/normaliser.py",
        '        self.mean.copy_(state["mean"])',
        "        pass",
        ("tests/test_resume_exact.py",),
        "the normaliser's window of ℓ(θ') not restored on resume",
    ),
    Mutation(
        "shared-noise-stream",
        "bayes_dps/inference/bads/sampler.py",
        'moves.move(idx_t, drift, out_t, y_t, point.big_b, self.generators["weights"])',
        'moves.move(idx_t, drift, out_t, y_t, point.big_b, self.generators["theta"])',
        ("tests/test_fixed_weights.py",),
        "the w move draws from θ's noise stream (θ's noise then depends on whether w moves)",
    ),
    Mutation(
        "twin-moves-w",
        "bayes_dps/inference/bads/sampler.py",
        " or self.settings.fixed_weights",
        "",
        ("tests/test_fixed_weights.py",),
        "the fixed-weight twin moves its weights",
    ),
    Mutation(
        "ell-half",
        "bayes_dps/inference/gaussian_softmax.py",
        "    return torch.addcmul(c.mu_y - c.lse, var_scale, curvature, value=-0.5)",
        "    return torch.addcmul(c.mu_y - c.lse, var_scale, curvature, value=-1.0)",
        ("tests/test_gaussian_softmax.py",),
        "the ½ of the delta method's E[LSE(f)] dropped",
    ),
    Mutation(
        "ell-sign",
        "bayes_dps/inference/gaussian_softmax.py",
        "    curvature = (c.p * (torch.diagonal(cov)[:, None] - cov @ c.p)).sum(0)",
        "    curvature = (c.p * (torch.diagonal(cov)[:, None] + cov @ c.p)).sum(0)",
        ("tests/test_gaussian_softmax.py",),
        "the sign of pᵀCp in E[LSE(f)] flipped",
    ),
    Mutation(
        "u-for-u-inverse",
        "bayes_dps/inference/kfac_laplace.py",
        "        out = (variance, torch.cholesky_inverse(L_u))",
        "        out = (variance, U)",
        ("tests/test_gaussian_softmax.py",),
        "the predictive's covariance C = U instead of U⁻¹",
    ),
    Mutation(
        "adaptive-alpha-sync",
        "bayes_dps/selection/bayesian.py",
        "            alpha = zs_loss / (model_loss + zs_loss).clamp_min(1e-12)",
        "            alpha = float(zs_loss / (model_loss + zs_loss).clamp_min(1e-12))",
        ("tests/test_host_syncs.py",),
        "adaptive α read back to the host every step",
    ),
    Mutation(
        "log-jacobian",
        "bayes_dps/inference/sgmcmc/pyro_kernel.py",
        "log_joint = log_joint + temperature * log_det",
        "log_joint = log_joint",
        ("tests/test_pyro_kernels.py",),
        "the Pyro SGMCMCKernel drops the log-Jacobian of the w transform",
    ),
    Mutation(
        "jacobian-untempered",
        "bayes_dps/inference/sgmcmc/pyro_kernel.py",
        "log_joint = log_joint + temperature * log_det",
        "log_joint = log_joint + log_det",
        ("tests/test_weights_temperature.py",),
        "the Pyro SGMCMCKernel's log-Jacobian not scaled by the temperature",
    ),
    Mutation(
        "weights-jacobian-untempered",
        "bayes_dps/inference/bads/weights.py",
        "+ self.algorithm.temperature * torch.log(w_of_z * (1 - w_of_z))",
        "+ torch.log(w_of_z * (1 - w_of_z))",
        ("tests/test_weights_temperature.py",),
        "the logit-space Langevin move of w with the log-Jacobian not scaled by T",
    ),
    Mutation(
        "weightnet-sign",
        "bayes_dps/inference/bads/weights.py",
        "self.rho_phi * w * drift",
        "self.rho_phi * w * (-drift)",
        ("tests/test_weight_network.py",),
        "the weight network's gradient term ρ_φ·w·ℓ with its sign flipped",
    ),
    Mutation(
        "scoring-batchnorm",
        "bayes_dps/selection/selector.py",
        "with train_mode(self.model), frozen_running_stats(self.model), self.autocast():",
        "with train_mode(self.model), self.autocast():",
        ("tests/test_batchnorm_scoring.py",),
        "OnlineSelector's scoring forward without frozen_running_stats",
    ),
    Mutation(
        "bottom-k",
        "bayes_dps/selection/scored.py",
        "torch.topk(s, n_b).indices",
        "torch.topk(s, n_b, largest=False).indices",
        ("tests/test_selection_rules.py",),
        "rules pick the lowest scores",
    ),
    Mutation(
        "tau0-sqrt",
        "bayes_dps/inference/kfac_laplace.py",
        "s_n, s_t = math.sqrt(self.n_e), math.sqrt(self.tau0)",
        "s_n, s_t = math.sqrt(self.n_e), self.tau0",
        ("tests/test_kfac_laplace.py",),
        "√τ0 replaced by τ0 in V and U",
    ),
    Mutation(
        "refresh-lag-off-by-one",
        "bayes_dps/inference/kfac_laplace.py",
        "(age == 0 or (at > 0 and age < self.refresh_every))",
        "(age == 0 or (at > 0 and age <= self.refresh_every))",
        ("tests/test_kfac_laplace.py",),
        "the amortised factorisation served one update past its refresh",
    ),
    Mutation(
        "low-rank-complement-mean",
        "bayes_dps/inference/feature_variance.py",
        "rest = (V.diagonal().sum() - mu.sum()) / (len(V) - rank)",
        "rest = V.diagonal().mean()",
        ("tests/test_kfac_laplace.py",),
        "the complement's mean eigenvalue taken over all of V's",
    ),
    Mutation(
        "lazy-sum-steps",
        "bayes_dps/inference/weight_trace.py",
        "steps = (self.count - self._last[idx]).to(self._sum.dtype)",
        "steps = (self.count - self._last[idx] - 1).to(self._sum.dtype)",
        ("tests/test_weight_recorder.py",),
        "the lazy running sum drops a step per change",
    ),
    Mutation(
        "moves-forget-changes",
        "bayes_dps/inference/bads/weights.py",
        "            self._changed.append(idx_all)",
        "            pass",
        ("tests/test_weight_recorder.py",),
        "the weight moves do not report the indices they write",
    ),
    Mutation(
        "sgld-noise",
        "bayes_dps/inference/sgmcmc/sgld.py",
        "math.sqrt(eta * temperature)",
        "math.sqrt(1.3 * eta * temperature)",
        ("tests/test_sgmcmc_exactness.py",),
        "SGLD noise variance 1.3x too large",
    ),
    Mutation(
        "rho-t-default",
        "bayes_dps/inference/bads/sampler.py",
        "self.rho_t = float(n_t if s.rho_t is None else s.rho_t)",
        "self.rho_t = float(1 if s.rho_t is None else s.rho_t)",
        ("tests/test_sgmcmc_exactness.py",),
        "ρ_t defaults to 1 instead of N_t",
    ),
    Mutation(
        "causal-prompt-counted",
        "bayes_dps/models/likelihoods.py",
        "        target = y[:, first + 1 :]\n        counted = (target != IGNORE).to(logp.dtype)",
        "        target = x[:, first + 1 :]\n        counted = (target != PAD).to(logp.dtype)",
        ("tests/test_language.py",),
        "the causal-LM likelihood counts prompt tokens",
    ),
    Mutation(
        "causal-logits-kept-short",
        "bayes_dps/models/likelihoods.py",
        'kwargs["logits_to_keep"] = x.shape[1] - first',
        'kwargs["logits_to_keep"] = x.shape[1] - first - 1',
        ("tests/test_language.py",),
        "the causal-LM likelihood keeps one logit column too few",
    ),
    Mutation(
        "text-batch-cut-short",
        "bayes_dps/data/batches.py",
        "int(w[idx.numpy()].max())",
        "int(w[idx.numpy()].min())",
        ("tests/test_language.py",),
        "text batches are cut to their narrowest row",
    ),
    Mutation(
        "causal-no-shift",
        "bayes_dps/models/likelihoods.py",
        "        logp = torch.log_softmax(upcast(out.logits[:, :-1]), dim=-1)",
        "        logp = torch.log_softmax(upcast(out.logits[:, 1:]), dim=-1)",
        ("tests/test_language.py",),
        "the causal-LM logits are not shifted against the targets",
    ),
    Mutation(
        "token-mean-over-padding",
        "bayes_dps/models/likelihoods.py",
        "        return total / counted.sum(1).clamp_min(1)",
        "        return total / counted.shape[1]",
        ("tests/test_language.py",),
        "the per-token mean divides by the padded length",
    ),
    Mutation(
        "lora-base-trainable",
        "bayes_dps/models/language.py",
        "    return get_peft_model(model, config)",
        "    model = get_peft_model(model, config)\n"
        "    [p.requires_grad_(True) for p in model.parameters()]\n    return model",
        ("tests/test_language.py",),
        "LoRA leaves the base model trainable (the sampler moves it)",
    ),
    Mutation(
        "online-per-step-sync",
        "bayes_dps/methods/online/loop.py",
        "            noisy += self.noisy[chosen.idx].sum()",
        "            noisy += int(self.noisy[chosen.idx].sum())",
        ("tests/test_host_syncs.py",),
        "the online loop reads the noisy count back to the host every step",
    ),
    Mutation(
        "bads-validated-prior",
        "bayes_dps/inference/bads/weights.py",
        "        self.prior = unvalidated(prior)  # no host sync per step",
        "        self.prior = prior",
        ("tests/test_host_syncs.py",),
        "the weight update validates the prior's argument every step (a host sync)",
    ),
    Mutation(
        "centring-resume",
        "bayes_dps/inference/bads/drift.py",
        '            self.centring.load_state_dict(state["centring"])',
        "            pass",
        ("tests/test_drift_centring.py",),
        "the drift's running mean not restored on resume",
    ),
    Mutation(
        "classact-balance",
        "bayes_dps/methods/bads/classact.py",
        "softplus(z_t @ a + b).mean() + l2",
        "softplus(z_t @ a + b).sum() / len(z_m) + l2",
        ("tests/test_bads_baselines.py",),
        "classact's classifier without the class balance",
    ),
    Mutation(
        "askllm-shift",
        "bayes_dps/methods/bads/askllm.py",
        "logits[:, -k - 1 : -1]",
        "logits[:, -k:]",
        ("tests/test_language_configs.py",),
        "askllm_o reads the answer's probability one position late",
    ),
]


def run_one(m: Mutation, workdir: Path) -> tuple[bool, float, str]:
    """Plant ``m`` in a fresh copy, run its tests; ``(caught, seconds, last lines)``."""
    copy = workdir / m.name
    shutil.copytree(ROOT / "bayes_dps", copy / "bayes_dps")
    shutil.copytree(ROOT / "tests", copy / "tests", ignore=shutil.ignore_patterns("mutations"))
    for name in ("setup.cfg", "pyproject.toml"):
        shutil.copy(ROOT / name, copy / name)
    target = copy / m.file
    text = target.read_text()
    if text.count(m.old) != 1:
        raise SystemExit(
            f"{m.name}: the snippet to mutate occurs {text.count(m.old)} times in {m.file}"
        )
    target.write_text(text.replace(m.old, m.new))
    env = {**os.environ, "PYTHONPATH": str(copy), "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
    )
    tail = "\n".join(done.stdout.strip().splitlines()[-3:])
    return done.returncode != 0, time.perf_counter() - t0, tail


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="mutations to run (default: all)")
    p.add_argument("--list", action="store_true", help="list the mutations and exit")
    args = p.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    if args.list or not chosen:
        for m in MUTATIONS:
            print(f"{m.name:20s} {m.file}: {m.what}")
        return 0
    survived = []
    with tempfile.TemporaryDirectory(prefix="bayes-dps-mutations-") as tmp:
        for m in chosen:
            caught, seconds, tail = run_one(m, Path(tmp))
            status = "caught" if caught else "SURVIVED"
            print(f"{status:9s} {m.name:20s} {seconds:6.1f} s  {m.what}", flush=True)
            if not caught:
                survived.append(m.name)
                print("  " + tail.replace("\n", "\n  "))
    print(f"\n{len(chosen) - len(survived)} of {len(chosen)} mutations caught")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
