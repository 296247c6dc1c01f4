"""cerebellum-mcp: the MCP server, the cerebellum and embedder models, the memory pipeline and the CLI."""

import os

# llama.cpp's OpenMP threads spin while they wait for work. When another busy process shares the
# cores (a second server for another client, the agent's own builds), the spinning starves both:
# measured on 2 cores beside a busy llama.cpp process, an embedding took 136 ms with libgomp's
# default spinning, 71 ms with GOMP_SPINCOUNT=20000 and 4 ms with OMP_WAIT_POLICY=PASSIVE; alone,
# a 0.5B decision took 2.41 s, 2.40 s and 3.36 s. The short spin keeps the uncontended speed and
# halves the contended penalty. Set before llama_cpp loads libgomp; explicit settings win.
os.environ.setdefault("GOMP_SPINCOUNT", "20000")
