"""return_large_buffers: after it, a freed multi-MiB block leaves the process."""

import subprocess
import sys
import textwrap

import pytest

from keras_recipes.data import heap

GLIBC = heap._glibc_function("mallopt") is not None
needs_glibc = pytest.mark.skipif(not GLIBC, reason="glibc's malloc only")

# Run in a fresh interpreter: the setting is process-wide and one-way. glibc's mallinfo2
# reports `hblkhd`, the bytes of blocks mapped on their own (given back when freed).
PROBE = textwrap.dedent(
    """
    import ctypes, importlib.util, sys

    # heap.py alone: the package would import TensorFlow, seconds for nothing here.
    spec = importlib.util.spec_from_file_location("heap", sys.argv[2])
    heap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(heap)

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    libc.mallinfo2.restype = MallInfo2
    if sys.argv[1] == "on":
        print(heap.return_large_buffers())
    # Freeing a mapped 16 MiB block raises glibc's dynamic threshold to 16 MiB...
    libc.free(libc.malloc(16 << 20))
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(4 << 20)
    # ...so without the setting a 4 MiB block now comes from the heap, and stays there.
    print(libc.mallinfo2().hblkhd - before >= 4 << 20)
    libc.free(block)
    print(libc.mallinfo2().hblkhd == before)
    """
)


def _probe(mode: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode, heap.__file__],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


@needs_glibc
def test_a_large_block_is_mapped_and_given_back_once_set():
    assert _probe("on") == ["True", "True", "True"]


@needs_glibc
def test_without_it_glibc_keeps_the_block_in_its_heap():
    # The behaviour the module works around: the block is not mapped on its own.
    assert _probe("off")[0] == "False"


@needs_glibc
def test_a_threshold_chosen_in_the_environment_is_left_alone(monkeypatch):
    heap.return_large_buffers.cache_clear()
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    try:
        assert heap.return_large_buffers() is False
    finally:
        heap.return_large_buffers.cache_clear()


def test_no_glibc_means_no_change(monkeypatch):
    heap.return_large_buffers.cache_clear()
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(heap, "_glibc_function", lambda name: None)
    try:
        assert heap.return_large_buffers() is False
    finally:
        heap.return_large_buffers.cache_clear()
