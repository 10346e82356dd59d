"""The bench's interleaved timers: who runs when, what is timed (call order recorded, not durations)."""

from __future__ import annotations

from faceid.bench.timing import interleaved, interleaved_pipelines


def _recorder(calls: list[str], name: str):
    return lambda: calls.append(name)


def test_paths_take_turns_call_by_call_after_their_warmup() -> None:
    calls: list[str] = []
    timed = interleaved({"a": _recorder(calls, "a"), "b": _recorder(calls, "b")}, warmup=2, repeats=3)
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert set(timed) == {"a", "b"} and all(set(t) == {"mean_ms", "median_ms"} for t in timed.values())


def test_blocks_give_each_path_an_untimed_call_first_in_its_turn() -> None:
    calls: list[str] = []
    interleaved({"a": _recorder(calls, "a"), "b": _recorder(calls, "b")}, warmup=0, repeats=4, block=2)
    assert calls == (["a"] * 3 + ["b"] * 3) * 2  # 2 turns of (1 untimed + 2 timed) per path


def test_pipelines_run_their_stages_in_order_a_side_at_a_time() -> None:
    calls: list[str] = []
    sides = {
        side: {stage: _recorder(calls, f"{side} {stage}") for stage in ("detect", "embed")} for side in ("us", "peer")
    }
    timed = interleaved_pipelines(sides, warmup=1, repeats=2, block=2)
    us, peer = ["us detect", "us embed"], ["peer detect", "peer embed"]
    assert calls == us + peer + us * 3 + peer * 3  # warm-up, then one turn: 1 untimed + 2 timed runs per side
    assert set(timed) == {"us detect", "us embed", "peer detect", "peer embed"}
