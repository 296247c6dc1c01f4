"""A copy of a GGUF file with some metadata changed: how the tests get a model that says it is another
family (a Qwen3 chat template, an embedder's name) without downloading one."""

from __future__ import annotations

from pathlib import Path

import gguf


def copy_with_metadata(source: Path, target: Path, strings: dict[str, str]) -> Path:
    """Write `target`: `source`'s tensors and metadata, with each key in `strings` set to that string."""
    reader = gguf.GGUFReader(source)
    architecture = reader.get_field(gguf.Keys.General.ARCHITECTURE)
    assert architecture is not None
    writer = gguf.GGUFWriter(target, arch=str(architecture.contents()), endianess=reader.endianess)
    pending = dict(strings)
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # the writer adds these itself
        if field.name in pending:
            writer.add_string(field.name, pending.pop(field.name))
            continue
        kind = field.types[0]
        sub_type = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub_type)
    for key, value in pending.items():
        writer.add_string(key, value)
    for tensor in reader.tensors:
        data = tensor.data
        writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    return target
