"""The verdict of a benchmark figure set between two runs of its baseline (bench/bracket.py)."""
from bench.bracket import Bracket


def meets_half(figure: float):
    return lambda baseline: figure / baseline["events_per_s"] >= 0.5


def test_the_verdict_is_given_when_the_runs_before_and_after_agree():
    steady = Bracket({"events_per_s": 7400}, {"events_per_s": 7600})
    assert steady.verdict(meets_half(3900)) == "yes"
    assert steady.verdict(meets_half(3600)) == "no"
    assert steady.as_baseline("events_per_s") == {"events_per_s": 7500, "before": {"events_per_s": 7400},
                                                  "after": {"events_per_s": 7600}, "spread": 200 / 7500}


def test_a_machine_that_moved_enough_to_decide_the_verdict_gives_none():
    moved = Bracket({"events_per_s": 9200}, {"events_per_s": 7300})
    # 4 000 is 0.43 of the run before and 0.55 of the run after: not a yes, not a no
    assert moved.verdict(meets_half(4000)) == "unsteady"
    assert moved.spread("events_per_s") < 0  # the machine slowed down during the figure
