"""Reads an offline wandb run file, to check what a run would upload (tests only)."""

from __future__ import annotations

import os
from pathlib import Path


def offline_run_records(path: str | os.PathLike) -> list:
    """The protobuf records of an offline wandb run file (``run-<id>.wandb``).

    The file is a LevelDB-style log (7-byte ``:W&B`` header, 32 KiB blocks of checksummed
    chunks); ``wandb sync`` reads the same records. Used to check what a run would upload.
    """
    import struct

    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    if data[:4] != b":W&B":
        raise ValueError(f"{path} is not a wandb run file")
    block, records, pending, pos = 32768, [], b"", 7
    while pos + 7 <= len(data):
        room = block - pos % block
        if room < 7:  # block trailer
            pos += room
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk = data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind == 0 and length == 0:
            break
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records
