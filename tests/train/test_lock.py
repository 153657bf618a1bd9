"""One run at a time in a workdir: a second one is refused in one line naming the holder, and a lock left by
a dead process is no obstacle (the kernel drops a flock with its process)."""

import json
import os
import subprocess
import sys

import pytest

from jaxcnn.train import lock


def test_a_second_holder_is_refused_naming_the_first_and_the_lock_is_free_again_afterwards(tmp_path):
    with lock.workdir_lock(tmp_path):
        holder = json.loads((tmp_path / lock.LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(lock.WorkdirBusy) as raised:  # another open file description: flock says no
            with lock.workdir_lock(tmp_path):
                pass
        message = str(raised.value)
        assert message.startswith(f"{tmp_path} is in use by pid {os.getpid()} on host ") and "\n" not in message
        assert message.endswith("wait for it to finish, stop it, or use another --workdir")
        assert raised.value.label == "busy" and raised.value.exit_status == 2
    assert not (tmp_path / lock.LOCK_FILE).exists()  # released and removed on leaving the block
    with lock.workdir_lock(tmp_path):
        pass


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import pathlib, sys, time\n"
        "from jaxcnn.train import lock\n"
        "with lock.workdir_lock(pathlib.Path(sys.argv[1])):\n"
        "    print('locked', flush=True)\n"
        "    time.sleep(600)\n"), str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(lock.WorkdirBusy, match=f"in use by pid {holder.pid} "):
            with lock.workdir_lock(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    with lock.workdir_lock(tmp_path):  # kill -9 left the file and its note; the lock itself died with the holder
        assert json.loads((tmp_path / lock.LOCK_FILE).read_text())["pid"] == os.getpid()


def test_an_unreadable_note_still_gives_a_one_line_refusal(tmp_path):
    with lock.workdir_lock(tmp_path):
        (tmp_path / lock.LOCK_FILE).write_text("garbage")
        with pytest.raises(lock.WorkdirBusy, match="in use by another process \\(its lock file does not say which\\)"):
            with lock.workdir_lock(tmp_path):
                pass
