"""Importing the memory people already keep elsewhere, tidied on the way in (`cerebellum-mcp import --from`).

One module per source format reads it into `ImportItem`s (records.py), from the shape the peer's own code
writes; sources.py picks the reader for a format; pipeline.py tidies the items and writes them under one
operation. This file only names the formats, so that building the CLI's parser imports nothing else.
"""

from __future__ import annotations

from typing import Literal, get_args

SourceFormat = Literal[
    "server-memory", "mcp-memory-service", "claude-mem", "mem0", "basic-memory", "claude-code", "jsonl"
]
FORMATS: tuple[str, ...] = get_args(SourceFormat)
