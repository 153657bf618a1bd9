"""Files written whole, and the exclusive lock that makes two processes take turns."""

import subprocess
import sys
import threading

from jaxcnn import files


def test_write_whole_replaces_the_file_and_leaves_no_partial_file(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    files.write_whole(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    files.write_whole(target, b"\x1f\x8b bytes")  # bytes are written as they are
    assert target.read_bytes() == b"\x1f\x8b bytes" and [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_a_second_holder_waits_until_the_first_process_lets_go(tmp_path):
    lock_path = tmp_path / "sub" / "prepare.lock"  # its folder is created
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from jaxcnn import files\n"
         f"with files.held_exclusively({str(lock_path)!r}):\n"
         "    print('held', flush=True); sys.stdin.readline()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline() == "held\n"
    entered = threading.Event()

    def second():
        with files.held_exclusively(lock_path):
            entered.set()

    thread = threading.Thread(target=second)
    thread.start()
    assert not entered.wait(0.5)  # still held by the other process
    holder.communicate("go\n")  # the holder leaves its block and exits
    thread.join()
    assert entered.is_set() and holder.returncode == 0
