"""FolderSync sends a seed folder's files to the experiment's storage, a stacked trial's checkpoint included."""

from __future__ import annotations

from tune_sched.results.storage import FolderSync


def test_upload_sends_the_seed_files_and_a_stacked_checkpoint_before_the_result(tmp_path):
    local, bucket = tmp_path / "local", tmp_path / "bucket"
    seed = local / "c1" / "seed0"
    seed.mkdir(parents=True)
    bucket.mkdir()
    for name in ("steps.parquet", "last.ckpt", "stacked-0-1-2.ckpt", "result.json", "scratch.tmp"):
        (seed / name).write_bytes(name.encode())
    sync = FolderSync(bucket.as_uri(), local)
    assert sync.upload(["c1/seed0"]) == 4
    sent = sorted(p.name for p in (bucket / "c1" / "seed0").iterdir())
    assert sent == ["last.ckpt", "result.json", "stacked-0-1-2.ckpt", "steps.parquet"]
    assert sync.upload(["c1/seed0"]) == 0  # nothing changed since
