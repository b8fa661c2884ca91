"""The native module loads and reports what it contains; the shared parallel loop behaves."""


import pytest
import rbic_fast
from native_contract import assert_interruptible, assert_progress_well_formed, assert_releases_gil
from rbic_fast import _core


def test_build_info_fields():
    info = rbic_fast.build_info()
    assert info["version"] == rbic_fast.__version__
    assert info["simd"] in {"scalar", "avx2", "avx512"}
    assert isinstance(info["openmp"], bool)
    assert info["openmp_max_threads"] >= 1
    assert isinstance(info["cuda"], bool)
    if info["cuda"]:
        assert info["cuda_arch"]
    else:
        assert info["cuda_arch"] == "" and info["cuda_devices"] == 0


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_parallel_for_runs_every_task(threads):
    seen = []
    assert _core._spin(50, 0.01, threads, lambda d, t: seen.append((d, t))) == 50
    assert assert_progress_well_formed(seen) == 50


def test_worker_exception_propagates_as_value_error():
    with pytest.raises(ValueError, match="task 7 failed"):
        _core._spin(100, 0.0, 2, None, 7)


def test_progress_callback_exception_propagates():
    def boom(done, total):
        raise RuntimeError("progress failed")

    with pytest.raises(RuntimeError, match="progress failed"):
        _core._spin(200, 1.0, 2, boom)


def test_gil_released_during_native_call():
    assert_releases_gil(lambda: _core._spin(40, 5.0, 1, None))  # ~200 ms of native work


def test_ctrl_c_interrupts_native_loop():
    assert_interruptible(lambda: _core._spin(10_000, 1.0, 2, None), after=0.1, within=2.0)  # would take ~5 s
