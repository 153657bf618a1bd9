"""Preparing a TFDS dataset: two processes (or threads) that start at once prepare it once."""

import threading

from jaxcnn.data import tfds_source


class _Builder:
    """Stands for TFDS's builder of one dataset directory: prepared once `prepare` has run."""

    def __init__(self, disk: dict, asked: list):
        self.disk, self.asked = disk, asked

    def is_prepared(self) -> bool:
        self.asked.append(threading.current_thread().name)
        return self.disk["prepared"]


def test_runs_starting_together_prepare_a_dataset_once(tmp_path, monkeypatch):
    disk, asked, calls, first_inside = {"prepared": False}, [], [], threading.Event()

    def prepare(builder, name, data_dir):
        calls.append(name)
        first_inside.set()
        while "second" not in asked:  # the second run has seen the dataset unprepared before this one finishes
            threading.Event().wait(0.01)
        disk["prepared"] = True

    monkeypatch.setattr(tfds_source, "builder", lambda name, data_dir: _Builder(disk, asked))
    monkeypatch.setattr(tfds_source, "_prepare", prepare)
    results = []
    runs = [threading.Thread(target=lambda: results.append(tfds_source.prepared_builder("mnist", str(tmp_path))),
                             name=name) for name in ("first", "second")]
    runs[0].start()
    first_inside.wait()
    runs[1].start()
    for run in runs:
        run.join()
    assert calls == ["mnist"] and asked.count("second") == 2  # the second run looked again under the lock
    assert len(results) == 2 and all(b.is_prepared() for b in results)
    assert (tmp_path / ".mnist.preparing.lock").exists()
