"""The import the resume test kills: a mem0 dump through the import pipeline, with fast stand-in models.

Usage: python -m tests.helpers.import_writer DB SOURCE DELAY. Each item waits DELAY seconds (so that a SIGKILL lands
part way), in batches of 8; the store and the pipeline are the real ones.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from seeds import open_store
from server.importers.pipeline import ImportOptions, import_items
from server.importers.sources import read_source
from server.pipeline.memory import Memory
from tests.helpers.fakes import HashBrain, HashEmbedder


def main() -> None:
    db, source, delay = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    memory = Memory(open_store(db), HashBrain(), HashEmbedder(), reconcile_similarity=0.6)
    items = read_source("mem0", source)
    summary = import_items(
        memory,
        items,
        ImportOptions(default_scope="team", batch_size=8),
        format_name="mem0",
        source=str(source),
        progress=lambda done, total: time.sleep(delay),
    )
    sys.stdout.write(f"{summary.operation_id} {summary.resumed_after} {summary.kept}\n")
    memory.close()


if __name__ == "__main__":
    main()
