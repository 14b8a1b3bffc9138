"""A threaded pipeline: source -> batched processing [-> completion] -> sink, joined by bounded queues.

Usage:
    stats = run_pipeline(frames, backend_step, sink.write, finish=sink.close, batch_size=4)
    stats = run_pipeline(frames, start_network, sink.write, complete=stabilise_and_upsample)   # four threads

Each stage runs in its own thread. Queues are bounded, so memory stays constant however fast the
source is (file mode: order kept, nothing dropped; a slow stage makes the others wait). The first
exception raised in any stage stops every stage and is re-raised here, in the caller's thread,
as the original exception object. Ctrl-C in the caller stops all stages and is re-raised.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

_END = object()          # end-of-stream marker passed down the queues
_POLL_S = 0.1            # how often blocked stages check whether they must stop


@dataclass
class PipelineStats:
    items_in: int = 0                 # items the source produced
    items_out: int = 0                # items the sink consumed
    batches: int = 0
    max_depth: dict[str, int] = field(default_factory=dict)   # deepest each queue ever got
    queue_size: int = 0


class PipelineStopped(Exception):
    """Raised inside a stage when another stage failed or the run was interrupted."""


class _Run:
    def __init__(self):
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.error_stage: str | None = None    # named in a note on the error (shown with --debug tracebacks)
        self.lock = threading.Lock()

    def fail(self, stage: str, exc: BaseException) -> None:
        with self.lock:
            if self.error is None and not isinstance(exc, PipelineStopped):
                self.error, self.error_stage = exc, stage
        self.stop.set()

    def put(self, q: queue.Queue, item: Any, depth: dict[str, int], name: str) -> None:
        while True:
            if self.stop.is_set():
                raise PipelineStopped()
            try:
                q.put(item, timeout=_POLL_S)
                depth[name] = max(depth.get(name, 0), q.qsize())
                return
            except queue.Full:
                continue

    def get(self, q: queue.Queue) -> Any:
        while True:
            if self.stop.is_set():
                raise PipelineStopped()
            try:
                return q.get(timeout=_POLL_S)
            except queue.Empty:
                continue


def run_pipeline(source: Iterable[Any],
                 process: Callable[[Sequence[Any]], Sequence[Any]],
                 sink: Callable[[Any], None],
                 *,
                 complete: Callable[[Sequence[Any]], Sequence[Any]] | None = None,
                 finish: Callable[[], None] | None = None,
                 batch_size: int = 1,
                 queue_size: int = 8) -> PipelineStats:
    """Run source -> process (in batches of up to ``batch_size``) [-> complete] -> sink, each in its own thread.

    ``process`` receives a list of items and returns one output per input, in order.
    ``complete`` (optional) receives each list ``process`` returned, in order, in a fourth thread, and returns
    one item per entry for the sink: the second half of work split in two (cartoonize-video paints frame t+1
    while frame t is stabilised and upsampled).
    ``finish`` runs in the sink thread after the last item (flush an encoder there).
    """
    if batch_size < 1 or queue_size < 1:
        raise ValueError("batch_size and queue_size must be >= 1")
    run = _Run()
    stats = PipelineStats(queue_size=queue_size)
    q_in: queue.Queue = queue.Queue(maxsize=queue_size)
    q_out: queue.Queue = queue.Queue(maxsize=queue_size)
    # Whole batches wait here, so as many frames at most as in the other queues.
    q_mid: queue.Queue = queue.Queue(maxsize=max(1, queue_size // batch_size))

    def read_stage() -> None:
        items = iter(source)
        try:
            for item in items:
                run.put(q_in, item, stats.max_depth, "decoded")
                stats.items_in += 1
        finally:
            close = getattr(items, "close", None)   # a generator closes its files here, in its own thread
            if close is not None:
                close()
        run.put(q_in, _END, stats.max_depth, "decoded")

    def process_stage() -> None:
        ended = False
        while not ended:
            batch = [run.get(q_in)]
            # File mode waits for a full batch; the end marker cuts the last one short.
            while batch[-1] is not _END and len(batch) < batch_size:
                batch.append(run.get(q_in))
            if batch[-1] is _END:
                batch.pop()
                ended = True
            if batch:
                outputs = process(batch)
                if len(outputs) != len(batch):
                    raise RuntimeError(f"process returned {len(outputs)} items for a batch of {len(batch)}")
                stats.batches += 1
                if complete is not None:
                    run.put(q_mid, outputs, stats.max_depth, "processed")
                else:
                    for out in outputs:
                        run.put(q_out, out, stats.max_depth, "processed")
        run.put(q_mid if complete is not None else q_out, _END, stats.max_depth, "processed")

    def complete_stage() -> None:
        while (outputs := run.get(q_mid)) is not _END:
            completed = complete(outputs)
            if len(completed) != len(outputs):
                raise RuntimeError(f"complete returned {len(completed)} items for a batch of {len(outputs)}")
            for out in completed:
                run.put(q_out, out, stats.max_depth, "completed")
        run.put(q_out, _END, stats.max_depth, "completed")

    def sink_stage() -> None:
        while (item := run.get(q_out)) is not _END:
            sink(item)
            stats.items_out += 1
        if finish is not None:
            finish()

    def guarded(name: str, fn: Callable[[], None]) -> Callable[[], None]:
        def body() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - every failure must stop the others
                run.fail(name, exc)
        return body

    stages = [("read", read_stage), ("process", process_stage)]
    stages += [("complete", complete_stage)] if complete is not None else []
    threads = [threading.Thread(target=guarded(name, fn), name=f"cartoonize-{name}", daemon=True)
               for name, fn in stages + [("write", sink_stage)]]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=_POLL_S)
    except KeyboardInterrupt:
        run.stop.set()
        for t in threads:
            t.join(timeout=5.0)
        raise
    if run.error is not None:
        run.error.add_note(f"raised in the {run.error_stage} stage of the file pipeline")
        raise run.error
    return stats
