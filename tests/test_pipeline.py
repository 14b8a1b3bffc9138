"""The threaded pipeline: order, batching, bounded queues, first error stops everything."""

from __future__ import annotations

import threading
import time

import pytest

from cartoonize.realtime.pipeline import run_pipeline


def test_order_and_batches_are_kept():
    seen_batches: list[int] = []
    out: list[int] = []

    def process(batch):
        seen_batches.append(len(batch))
        return [x * 2 for x in batch]

    stats = run_pipeline(range(103), process, out.append, batch_size=8, queue_size=4)
    assert out == [x * 2 for x in range(103)]
    assert seen_batches == [8] * 12 + [7]
    assert stats.items_in == stats.items_out == 103 and stats.batches == 13


def test_finish_runs_after_last_item_in_sink_thread():
    events: list[str] = []
    threads: set[str] = set()

    def sink(x):
        events.append(f"item{x}")
        threads.add(threading.current_thread().name)

    def finish():
        events.append("finish")
        threads.add(threading.current_thread().name)

    run_pipeline(range(3), list, sink, finish=finish)
    assert events == ["item0", "item1", "item2", "finish"]
    assert threads == {"cartoonize-write"}


def test_complete_runs_each_batch_in_order_in_its_own_thread_overlapping_process():
    # The second half of split work (cartoonize-video: stabilising and upsampling) gets a thread of its own,
    # so it runs while process works on the next batch, and it sees process's lists whole and in order.
    seen: list[list[int]] = []
    threads: dict[str, set[str]] = {"process": set(), "complete": set()}
    spans: dict[str, list[tuple[float, float]]] = {"process": [], "complete": []}

    def timed(stage, work):
        threads[stage].add(threading.current_thread().name)
        start = time.perf_counter()
        time.sleep(0.003)
        result = work()
        spans[stage].append((start, time.perf_counter()))
        return result

    def process(batch):
        return timed("process", lambda: [x * 2 for x in batch])

    def complete(outputs):
        seen.append(list(outputs))
        return timed("complete", lambda: [x + 1 for x in outputs])

    out: list[int] = []
    stats = run_pipeline(range(50), process, out.append, complete=complete, batch_size=4, queue_size=8)
    assert out == [x * 2 + 1 for x in range(50)] and stats.items_out == 50
    assert seen == [[x * 2 for x in range(i, min(i + 4, 50))] for i in range(0, 50, 4)]
    assert threads == {"process": {"cartoonize-process"}, "complete": {"cartoonize-complete"}}
    assert any(a < d and c < b for a, b in spans["process"] for c, d in spans["complete"])   # ran at the same time
    assert stats.max_depth["processed"] <= 2          # whole batches: queue_size // batch_size of them


def test_errors_in_complete_stop_the_run():
    with pytest.raises(RuntimeError, match="stabiliser failed") as error:
        run_pipeline(range(100), list, lambda x: None,
                     complete=lambda b: (_ for _ in ()).throw(RuntimeError("stabiliser failed")))
    assert error.value.__notes__ == ["raised in the complete stage of the file pipeline"]
    with pytest.raises(RuntimeError, match="complete returned 1 items for a batch of 3"):
        run_pipeline(range(6), list, lambda x: None, complete=lambda b: b[:1], batch_size=3)


def test_queues_stay_bounded_with_a_fast_source_and_slow_sink():
    produced = 0
    consumed = 0
    max_ahead = 0
    lock = threading.Lock()

    def source():
        nonlocal produced, max_ahead
        for i in range(300):
            with lock:
                produced += 1
                max_ahead = max(max_ahead, produced - consumed)
            yield bytearray(10_000)        # stands in for a frame

    def sink(_):
        nonlocal consumed
        time.sleep(0.001)
        with lock:
            consumed += 1

    stats = run_pipeline(source(), list, sink, batch_size=2, queue_size=4)
    assert stats.items_out == 300
    assert max(stats.max_depth.values()) <= 4
    # In flight at most: both queues full, one batch in process, one item in the sink, one in hand.
    assert max_ahead <= 4 + 4 + 2 + 1 + 1 + 1


def test_error_in_process_stops_all_stages_and_is_reraised():
    source_stopped = threading.Event()

    def source():
        try:
            for i in range(10_000):
                yield i
        finally:
            source_stopped.set()

    def process(batch):
        if batch[0] >= 50:
            raise ValueError("model exploded at item 50")
        return batch

    out: list[int] = []
    with pytest.raises(ValueError, match="model exploded at item 50"):
        run_pipeline(source(), process, out.append, queue_size=4)
    assert source_stopped.is_set()          # the reader closed its source when told to stop
    assert len(out) <= 50


def test_error_in_source_and_in_sink_are_reraised():
    def bad_source():
        yield 1
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone") as error:
        run_pipeline(bad_source(), list, lambda x: None)
    assert error.value.__notes__ == ["raised in the read stage of the file pipeline"]   # for --debug tracebacks

    def bad_sink(x):
        if x == 5:
            raise RuntimeError("encoder failed")

    with pytest.raises(RuntimeError, match="encoder failed") as error:
        run_pipeline(range(1000), list, bad_sink)
    assert str(error.value) == "encoder failed"                  # the one-line message is unchanged
    assert error.value.__notes__ == ["raised in the write stage of the file pipeline"]


def test_error_in_finish_is_reraised():
    def finish():
        raise RuntimeError("trailer failed")

    with pytest.raises(RuntimeError, match="trailer failed"):
        run_pipeline(range(3), list, lambda x: None, finish=finish)


def test_process_must_return_one_output_per_input():
    with pytest.raises(RuntimeError, match="returned 1 items for a batch of 2"):
        run_pipeline(range(4), lambda b: b[:1], lambda x: None, batch_size=2)


def test_no_threads_left_behind():
    before = {t.name for t in threading.enumerate()}
    with pytest.raises(ValueError):
        run_pipeline(range(100), lambda b: (_ for _ in ()).throw(ValueError("x")), lambda x: None)
    run_pipeline(range(10), list, lambda x: None)
    after = {t.name for t in threading.enumerate() if t.name.startswith("cartoonize-")}
    assert after - before == set()
