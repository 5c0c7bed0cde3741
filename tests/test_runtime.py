import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from aevae import errors, runtime
from aevae.errors import StudyError

# ---------------------------------------------------------------- cli: one line, never a traceback


def _run_cli(main, capsys) -> tuple[int, str]:
    try:
        with pytest.raises(SystemExit) as e:
            errors.cli(main)
    except KeyboardInterrupt:  # would stop the whole test session, not just fail this test
        pytest.fail("Ctrl-C escaped cli with its traceback")
    return e.value.code, capsys.readouterr().err


def _raise(exc: BaseException):
    def main():
        raise exc

    return main


def test_study_error_is_one_line_and_status_2(capsys):
    code, err = _run_cli(_raise(StudyError("data.val_size: must be positive")), capsys)
    assert (code, err) == (2, "error: data.val_size: must be positive\n")


def test_ctrl_c_is_one_line_and_status_130(capsys):
    code, err = _run_cli(_raise(KeyboardInterrupt()), capsys)
    assert code == 130
    assert err == f"error: {errors.INTERRUPTED}\n" and "nothing partial" in err and "re-run" in err


def test_real_ctrl_c_in_a_stage_process_is_one_line():
    """SIGINT to a running process, as a terminal sends it: one line on stderr, exit status 130."""
    code = textwrap.dedent("""
        import sys, time
        from aevae.errors import cli
        def main():
            print("ready", flush=True)
            time.sleep(30)
        cli(main)
    """)
    root = Path(errors.__file__).resolve().parent.parent
    # a job started in the background by a non-interactive shell (as CI may run us) inherits SIGINT
    # ignored, and Python then installs no KeyboardInterrupt handler: give the child a terminal's default
    child = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    assert child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=10)
    assert child.returncode == 130
    assert err == f"error: {errors.INTERRUPTED}\n"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "data/eval/ae-0"),
            "error: data/eval/ae-0: Permission denied; check the owner and mode",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "data/models/ae-0.pt"),
            "error: data/models/ae-0.pt: Read-only file system; the file system is read-only",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "error: No space left on device; the disk is full: free"),
    ],
)
def test_unwritable_output_is_one_line_and_status_2(capsys, exc, expected):
    code, err = _run_cli(_raise(exc), capsys)
    assert code == 2 and err.startswith(expected) and err.count("\n") == 1


@pytest.mark.parametrize("exc", [ValueError("a bug"), FileNotFoundError(errno.ENOENT, "No such file", "x")])
def test_programming_errors_keep_their_traceback(exc):
    with pytest.raises(type(exc)):
        errors.cli(_raise(exc))


# ---------------------------------------------------------------- device


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)


@pytest.fixture
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


def test_device_default_and_valid_overrides(monkeypatch, no_cuda):
    monkeypatch.delenv("AEVAE_DEVICE", raising=False)
    assert runtime.device() == torch.device("cpu")
    monkeypatch.setenv("AEVAE_DEVICE", "")
    assert runtime.device() == torch.device("cpu")
    monkeypatch.setenv("AEVAE_DEVICE", "cpu")
    assert runtime.device() == torch.device("cpu")


def test_device_cuda_overrides_on_a_gpu_machine(monkeypatch, two_gpus):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    for name in ("cuda", "cuda:0", "cuda:1"):
        monkeypatch.setenv("AEVAE_DEVICE", name)
        assert runtime.device() == torch.device(name)
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


@pytest.mark.parametrize("name", ["gpu", "CUDA", "cuda:", "cuda:-1", "cuda:01", "cuda:x", "mps", "cpu:0"])
def test_unknown_device_names_the_variable_and_what_is_allowed(monkeypatch, name):
    monkeypatch.setenv("AEVAE_DEVICE", name)
    with pytest.raises(StudyError) as e:
        runtime.device()
    assert str(e.value) == (
        f"AEVAE_DEVICE={name}: unknown device; allowed: cpu, cuda, cuda:N; "
        "unset it (CUDA when present, else CPU) or set AEVAE_DEVICE=cpu"
    )


@pytest.mark.parametrize("name", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_one_clear_error(monkeypatch, no_cuda, name):
    monkeypatch.setenv("AEVAE_DEVICE", name)
    with pytest.raises(StudyError, match=rf"^AEVAE_DEVICE={name}: this machine has no usable CUDA device; unset it"):
        runtime.device()


def test_cuda_index_past_the_device_count_is_one_clear_error(monkeypatch, two_gpus):
    monkeypatch.setenv("AEVAE_DEVICE", "cuda:2")
    with pytest.raises(StudyError, match=r"AEVAE_DEVICE=cuda:2: this machine has 2 CUDA device\(s\), cuda:0 to cuda:1"):
        runtime.device()


# ---------------------------------------------------------------- named random streams


def _draws(g: torch.Generator, n: int = 8) -> list[int]:
    return torch.randint(2**62, (n,), generator=g).tolist()


def test_stream_is_reproducible_per_seed_and_name():
    assert _draws(runtime.stream(0, "split")) == _draws(runtime.stream(0, "split"))
    assert _draws(runtime.stream(0, "split")) != _draws(runtime.stream(0, "samples"))
    assert _draws(runtime.stream(0, "split")) != _draws(runtime.stream(1, "split"))


def test_drawing_more_from_one_stream_does_not_move_another():
    alone = _draws(runtime.stream(0, "samples"))
    noisy = runtime.stream(0, "init")
    _draws(noisy, 1000)
    assert _draws(runtime.stream(0, "samples")) == alone


def test_stream_seed_is_pinned_across_processes():
    """sha256, not ``hash()`` (salted per process): these numbers are the same in every run."""
    g = runtime.stream(0, "split")
    assert g.initial_seed() == 112951262504773928  # int(sha256(b"0:split")[:8], big-endian) & (2**63 - 1)
    assert _draws(g, 1) == [1602731801774568196]
    assert runtime.stream(0, "split").device == torch.device("cpu")
