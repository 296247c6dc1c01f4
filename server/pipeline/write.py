"""The write path's one entry point: receive, then decide within the deadline, else answer `queued`.

The `remember` tool (over stdio, over HTTP, through the shared service) and the CLI's `import` all
call `remember` here. Read top to bottom with server/pipeline/decider.py (who decides, when) and
`Memory.decide` in server/pipeline/memory.py (what is decided: the gate, the arbiter, the store's change):

1. while the models load, a text already stored in its scope (exactly) is answered `duplicate` at
   once; every other text is committed to the inbox first (secrets screened out before), so from
   here on it survives a slow, missing or crashing model;
2. the Decider decides it, waiting at most `deadline` seconds for the models and the decision;
3. the answer is the decision, or `queued` with the reason; a queued text is decided in the
   background by the Decider's worker (or by the next server process that opens the store).
"""

from __future__ import annotations

from collections.abc import Sequence

import anyio.to_thread

from seeds import StoreError
from server.pipeline.decider import Decider, Failed, Undecided
from server.pipeline.errors import WriteRefused
from server.pipeline.results import RememberResult, queued, settled
from server.pipeline.store_ops import exact_duplicate, receive


async def remember(
    decider: Decider,
    text: str,
    scope: str,
    *,
    tags: Sequence[str] = (),
    force: bool = False,
    source: str = "agent",
    deadline: float | None,
) -> RememberResult:
    """Store a text durably, then answer with its decision or `queued` (deadline None: wait for it).

    The arguments are checked already (server/protocol/arguments.py). Raises, with nothing stored, SecretInText
    when the text holds a secret (in refuse mode), WriteRefused when the store refuses the write, and StoreNotOpen
    when there is no store (server/protocol/tools.py answers each as a ToolError with its message).
    """
    store = await decider.store_ready()
    if decider.memory is None:
        # While the models load (or can't), a text already stored is still answered at once, and not queued:
        # a short-lived process (an Inspector call, a hook) would otherwise only ever answer `queued`.
        duplicate = await anyio.to_thread.run_sync(lambda: exact_duplicate(store, scope, text))
        if duplicate is not None:
            return duplicate
    try:
        # Durable first: from here on the text survives a slow, missing or crashing model.
        receipt = await anyio.to_thread.run_sync(
            lambda: receive(
                store, text, scope, tags=tags, force=force, source=source, secrets_mode=decider.settings.secrets
            )
        )
    except StoreError as exc:
        raise WriteRefused(f"The seed store refused the write: {exc}. Nothing was changed; try again.") from exc
    received, redacted = receipt.received, receipt.redacted
    outcome = await decider.decide_within(received.id, deadline)
    if isinstance(outcome, Undecided):
        return queued(received, outcome.why, redacted)
    if isinstance(outcome, Failed):
        return queued(received, f"deciding failed ({outcome.why}); the text is kept and will be retried", redacted)
    return settled(received, outcome, redacted)
