"""``infer --cluster`` (and the int8 scoring's shards) on Dask: the serial run's result, exactly.

A ``LocalCluster`` of two worker processes, and a real ``dask scheduler`` plus ``dask worker``
started as separate processes on 127.0.0.1; a worker killed mid-run; an unreachable scheduler; an
image a worker cannot read.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import TINY_PREFIX, TINY_VDSP, photos_and_digits, tiny_infer_argv

from effv2nb.cli.main import main
from effv2nb.cluster import connect
from effv2nb.core.settings import DATA_DIR, DIGITS_DIR, REPO_DIR

PREFIX, VDSP = TINY_PREFIX, TINY_VDSP


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """One ImageNet-sized JPEG per class in 40 synset folders, plus the 400 validation digits."""
    return photos_and_digits(tmp_path_factory.mktemp("src"), 40)


def _argv(src, out, *extra):
    return tiny_infer_argv(src, out, *extra)


@pytest.fixture(scope="module")
def serial(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("cluster_serial")
    assert main(_argv(folder, out)) == 0
    return (out / "result.txt").read_bytes()


def test_local_cluster_gives_the_serial_result_file(folder, serial, tmp_path, capsys):
    assert main(_argv(folder, tmp_path, "--cluster", "local:2")) == 0
    out = capsys.readouterr().out
    assert "Dask cluster local:2: 2 worker(s)" in out and "dashboard: http://127.0.0.1:" in out, out
    assert (tmp_path / "result.txt").read_bytes() == serial
    assert main(["eval-topk", str(tmp_path / "result.txt")]) == 0


def test_cluster_from_the_environment(folder, serial, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(connect.ENV, "local:1")
    assert main(_argv(folder, tmp_path)) == 0
    assert "Dask cluster local:1" in capsys.readouterr().out
    assert (tmp_path / "result.txt").read_bytes() == serial


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def scheduler(tmp_path):
    """``dask scheduler`` and one ``dask worker`` (2 threads), as separate processes on 127.0.0.1."""
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_DIR) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    addr = f"tcp://127.0.0.1:{port}"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    procs.append(subprocess.Popen([sys.executable, "-m", "dask", "worker", addr, "--nthreads", "2", "--nworkers", "1",
                                   "--no-dashboard", "--host", "127.0.0.1"], env=env, cwd=tmp_path,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        from dask.distributed import Client

        deadline = time.monotonic() + 60
        while True:
            try:
                with Client(addr, timeout="2s") as c:
                    if c.scheduler_info()["workers"]:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the scheduler and worker did not come up"
            time.sleep(0.5)
        yield addr
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_separate_scheduler_and_worker_processes(folder, serial, tmp_path, scheduler, capsys):
    """The worker runs in another folder: images and model are read by absolute path."""
    out = tmp_path / "out"
    assert main(_argv(folder, out, "--cluster", scheduler)) == 0
    assert f"Dask cluster {scheduler}: 1 worker(s)" in capsys.readouterr().out
    assert (out / "result.txt").read_bytes() == serial


def test_a_worker_killed_mid_run_changes_nothing(folder, serial, tmp_path):
    """SIGKILL one of two workers after the first shard: Dask reruns its shards elsewhere, same bytes."""
    from effv2nb.device import runtime
    from effv2nb.device.infer import list_sources
    from effv2nb.device.journal import ResultJournal
    from effv2nb.device.result_stream import write_stream
    from effv2nb.device.infer import labels_for
    from effv2nb.cluster.infer_tasks import cluster_batches
    from effv2nb.formats.vdsp import load_vdsp

    paths = list_sources(folder)
    runner = runtime.open_runner("ort", PREFIX)
    with connect.open_cluster("local:2") as cl:
        pids = cl.client.run(os.getpid)
        batches = cluster_batches(cl, runner, paths, load_vdsp(VDSP), 4)
        killed = []

        def kill_after_first():
            for i, res in enumerate(batches):
                if i == 0:
                    victim = sorted(pids.values())[0]
                    os.kill(victim, signal.SIGKILL)
                    killed.append(victim)
                yield res

        journal = ResultJournal(tmp_path / "result.txt", {"test": 1})
        journal.open()
        write_stream(kill_after_first(), journal, len(paths), lambda n: labels_for(n), progress=False)
        journal.finish()
        journal.close()
        assert killed and cl.workers >= 1
    assert (tmp_path / "result.txt").read_bytes() == serial


def test_unreachable_scheduler_is_one_line_and_writes_nothing(folder, tmp_path, capsys):
    rc = main(_argv(folder, tmp_path / "out", "--cluster", "tcp://127.0.0.1:9"))
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "tcp://127.0.0.1:9" in lines[0] and "--cluster" in lines[0]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("spec", ["local:0", "local:x", "udp://1.2.3.4:5", "somewhere"])
def test_bad_cluster_values_are_one_line(spec, folder, tmp_path, capsys):
    rc = main(_argv(folder, tmp_path / "out", "--cluster", spec))
    err = capsys.readouterr().err
    assert rc == 2 and err.count("error: ") == 1 and spec in err and "--cluster" in err, err


def test_an_image_a_worker_cannot_read_is_skipped_as_in_the_serial_run(folder, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(folder / "photos", src)
    bad = sorted(src.rglob("*.JPEG"))[7]
    bad.write_bytes(b"\xff\xd8 truncated")
    outs = {}
    for name, extra in (("serial", ()), ("cluster", ("--cluster", "local:2"))):
        rc = main(_argv(src, tmp_path / name, *extra))
        err = capsys.readouterr().err
        assert rc == 1 and f"{bad}:" in err, err
        outs[name] = (tmp_path / name / "result.txt").read_bytes()
    assert outs["serial"] == outs["cluster"] and str(bad).encode() not in outs["cluster"]


def test_resume_may_switch_between_serial_and_cluster(folder, serial, tmp_path, monkeypatch):
    """A serial run stopped half way (a full disk), finished on a cluster: the same bytes."""
    import errno

    from effv2nb.device import journal as journal_mod

    real_add = journal_mod.ResultJournal.add
    calls = {"n": 0}

    def add(self, done, text, skipped=()):
        calls["n"] += 1
        if calls["n"] == 50:
            raise journal_mod.atomic.os_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)), self.partial)
        return real_add(self, done, text, skipped)

    monkeypatch.setattr(journal_mod.ResultJournal, "add", add)
    assert main(_argv(folder, tmp_path)) == 2
    monkeypatch.setattr(journal_mod.ResultJournal, "add", real_add)
    assert main(_argv(folder, tmp_path, "--resume", "--cluster", "local:2")) == 0
    assert (tmp_path / "result.txt").read_bytes() == serial


# ---------------------------------------------------------------- int8-report's scoring, shard by shard
def test_sums_of_shards_add_up_to_the_whole():
    import numpy as np

    from effv2nb.cluster.sums import Sums
    from effv2nb.core.metrics import agreement, sqnr_db, topk_rates

    rng = np.random.default_rng(3)
    ref = rng.normal(size=(300, 10)).astype(np.float32)
    test = ref + rng.normal(scale=0.3, size=ref.shape).astype(np.float32)
    y = rng.integers(0, 10, 300)
    merged = Sums()
    for i in range(0, 300, 64):
        merged = merged.merge(Sums.of(ref[i:i + 64], test[i:i + 64], y[i:i + 64]))
    r = merged.rates()
    t1, t5 = topk_rates(test, y)
    assert (r["top1"], r["top5"], r["agree_fp32"]) == (t1, t5, agreement(ref, test))
    assert abs(r["sqnr_db"] - sqnr_db(ref, test)) <= 1e-9 * abs(sqnr_db(ref, test))
    assert merged.pred == [int(i) for i in test.argmax(1)]


def test_int8_scoring_on_a_cluster_equals_the_serial_scoring(tmp_path):
    """The test fold of a tiny study scored here and on local:2: same top-1/top-5/agreement, SQNR to 1e-9."""
    import numpy as np

    from effv2nb.quant import int8_report
    from effv2nb.quant.int8_recipes import stock_recipe

    st = int8_report.prepare("tiny", quick=True, workdir=tmp_path, limit=150, num_calib=16, log=lambda _: None)
    st.built["stock"] = (stock_recipe(len(st.calib)).quantize(st.fp32, tmp_path / "stock.onnx", st.calib), 0.0)
    serial = int8_report.score(st, cluster="", log=lambda _: None).row("stock")
    lines = []
    with connect.open_cluster("local:2") as cl:
        sharded = int8_report.score(st, cluster=cl, log=lines.append).row("stock")
    assert any(ln.startswith("Dask cluster local:2") for ln in lines)
    assert len(st.test_samples) > 64          # more than one shard
    for key in ("top1", "top5", "agree_fp32", "host_top1", "host_top5", "host_agree"):
        assert sharded[key] == serial[key], key
    for key in ("sqnr_db", "host_sqnr_db"):
        assert abs(sharded[key] - serial[key]) <= 1e-9 * abs(serial[key]), (key, sharded[key], serial[key])
    assert np.array_equal(sharded["host_pred"], serial["host_pred"])


def test_int8_report_with_an_unreachable_scheduler_stops_before_the_work(tmp_path, capsys):
    rc = main(["int8-report", "--model", "tiny", "--quick", "--work", str(tmp_path / "w"),
               "--cluster", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("error: ") == 1 and "tcp://127.0.0.1:9" in err, err
    assert not (tmp_path / "w").exists()
