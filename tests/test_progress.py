"""Progress over training steps: a line at most once a minute in a log, none for a short run,
the count continuing from a resumed run's steps, and the trainer counting each step."""

from __future__ import annotations

import io

import torch

from bayes_dps.training.progress import StepHook, StepProgress
from bayes_dps.training.trainer import Trainer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_a_minute_with_the_step_time_and_the_time_left():
    clock, out = Clock(), io.StringIO()
    progress = StepProgress(100, desc="bads seed 0", stream=out, clock=clock)
    assert not progress.terminal
    for _ in range(10):  # 10 steps of 5 s: 50 s, no line yet
        clock.now += 5.0
        progress.advance()
    assert out.getvalue() == ""
    clock.now += 10.0
    progress.set_metrics({"acc": 0.5, "note": "not a number"})
    progress.advance()  # 60 s after the start: one line
    assert out.getvalue().splitlines() == [
        "bads seed 0: step 11/100 (11%), 5.45 s/step, about 8 min left; test acc 0.500"
    ]
    for _ in range(11):  # 11 more steps of 5 s: 55 s since that line
        clock.now += 5.0
        progress.advance()
    assert len(out.getvalue().splitlines()) == 1
    clock.now += 5.0
    progress.advance()
    assert len(out.getvalue().splitlines()) == 2
    progress.close()  # a run longer than a minute ends its log with its count
    assert out.getvalue().splitlines()[-1].startswith("bads seed 0: step 23/100 (23%)")


def test_a_short_run_prints_nothing_and_a_resumed_one_counts_on():
    clock, out = Clock(), io.StringIO()
    progress = StepProgress(10, done=6, desc="d", stream=out, clock=clock)
    for _ in range(4):
        clock.now += 1.0
        progress.advance()
    progress.close()
    assert out.getvalue() == ""
    assert progress.line() == "d: step 10/10 (100%), 1 s/step, 4 s"  # the rate of these 4


def test_quiet_is_silent_however_long_the_run():
    clock, out = Clock(), io.StringIO()
    progress = StepProgress(10, stream=out, clock=clock, enabled=False)
    clock.now += 1000.0
    progress.advance()
    progress.close()
    assert out.getvalue() == ""


class Steps(StepHook):
    """Three steps an epoch, each reported."""

    steps_per_epoch = 3

    def __init__(self) -> None:
        self.seen: list[int] = []

    def run_epoch(self, epoch: int) -> dict:
        for _ in range(3):
            self.on_step()
        return {}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def test_the_trainer_counts_every_step_and_unhooks_afterwards(monkeypatch):
    from bayes_dps.training import trainer as trainer_module

    made: list[StepProgress] = []

    class Recording(StepProgress):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs, stream=io.StringIO())
            made.append(self)

    monkeypatch.setattr(trainer_module, "StepProgress", Recording)
    model = torch.nn.Linear(1, 1)
    step = Steps()
    trainer = Trainer(
        model, torch.optim.SGD(model.parameters(), lr=0.1), step,
        evaluate=lambda: {"acc": 1.0}, epochs=4, progress=True,
    )  # fmt: skip
    trainer.fit()
    assert (made[0].total, made[0].done, made[0].unit) == (12, 12, "step")
    assert made[0].metrics == {"acc": 1.0}
    step.on_step()  # the hook no longer counts into the finished run's progress
    assert made[0].done == 12
