"""benchmarks/init_time.py: the variants interleaved per round, medians and their ratio in the table, and one
real init timed in a fresh process."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))
import init_time  # noqa: E402


def test_rounds_interleave_the_variants_and_the_table_gives_medians_and_their_ratio(monkeypatch):
    calls = []
    seconds = iter([8.0, 6.0, 2.0, 9.0, 5.0, 1.0, 7.0, 4.0, 3.0])

    def fake_init(net, variant):
        calls.append(variant)
        return next(seconds)

    monkeypatch.setattr(init_time, "one_init", fake_init)
    times = init_time.measure(["tiny_vgg"], rounds=3)
    assert calls == list(init_time.VARIANTS) * 3
    assert times["tiny_vgg"]["models.init_variables"] == [2.0, 1.0, 3.0]
    row = init_time.report(times).splitlines()[-1]
    assert row == "| tiny_vgg | 8.00 s | 5.00 s | 2.00 s | 4.0x |"


def test_one_init_times_a_real_model_in_a_new_process():
    seconds = init_time.one_init("simple_cnn", "models.init_variables")
    assert isinstance(seconds, float) and seconds > 0.0  # the child printed its own timing, nothing else
