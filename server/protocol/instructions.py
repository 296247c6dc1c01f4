"""The server's instructions to the agent: what the stdio relay and the server itself both say at `initialize`."""

INSTRUCTIONS = """\
Long-term memory for this coding agent. Call `remember` with one self-contained sentence or short \
paragraph whenever you learn something that should outlive this session: a lesson learned the hard \
way, a correction from the user, a decision and its reason, a preference, a durable project fact. \
A small local model decides whether it is worth keeping and merges it with what is already stored, \
so you need not check for duplicates first. Call `route` with each new user message before you answer \
it: the cerebellum says whether stored memory bears on it (and returns those memories) and whether it \
states something worth keeping (and remembers it); skip it for bare acknowledgements, or when a prompt \
hook already added memories to the context. Call `recall` at the start of a task and whenever past \
context might help. Call `reconcile` now and then to fold duplicates and resolve contradictions. \
Memories are kept per project (scope); recall and reconcile stay in the current one unless you pass \
scope="*" or a list of scopes. `forget` removes a memory the user wants gone; every change has an \
operation id that `undo` reverses."""
