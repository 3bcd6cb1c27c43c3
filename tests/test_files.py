"""Atomic writes: a reader sees the old file or the new one, and a failure leaves the old one as it was."""

import os

import pytest

from seqlab.files import atomic_path, write_bytes_atomic, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "model.safetensors"
    write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half of the new one")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors"]


def test_writes_replace_whole_files_keep_the_suffix_and_the_usual_permissions(tmp_path):
    target = tmp_path / "sub" / "page.html"
    seen = []
    with atomic_path(target) as tmp:
        seen.append(tmp)
        tmp.write_text("<p>new</p>", encoding="utf-8")
        assert not target.exists()  # nothing shows before the rename
    assert seen[0].suffix == ".html" and seen[0].parent == target.parent
    assert target.read_text(encoding="utf-8") == "<p>new</p>"
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_text_atomic(tmp_path / "atomic.txt", "x")
    assert os.stat(tmp_path / "atomic.txt").st_mode == os.stat(plain).st_mode  # not a private 0600 temp file
