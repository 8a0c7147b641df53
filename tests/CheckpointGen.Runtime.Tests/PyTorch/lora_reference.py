"""The reference for CheckpointGen's LoRA: a small transformer-style classifier, LoRA written out in PyTorch as Hugging Face
PEFT computes it (PEFT itself is not installed here), PEFT's rules for choosing layers from adapter_config.json, and
safetensors written and read by hand (Python's safetensors package is not installed either).

The model mirrors tests/CheckpointGen.Runtime.Tests/Models/LoraModels.cs key for key. Used by make_lora.py (the files
checked in under lora/) and read_adapters.py (which reads what the .NET side writes).
"""
import json
import math
import re
import struct

import numpy
import torch
from torch import nn

DIM = 16
HIDDEN = 32
LAYERS = 2
CLASSES = 3


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q_proj = nn.Linear(DIM, DIM)
        self.k_proj = nn.Linear(DIM, DIM)
        self.v_proj = nn.Linear(DIM, DIM)
        self.o_proj = nn.Linear(DIM, DIM)

    def forward(self, x):
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(DIM), dim=-1)
        return self.o_proj(weights @ v)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(DIM)
        self.attn = Attention()
        self.up = nn.Linear(DIM, HIDDEN)
        self.down = nn.Linear(HIDDEN, DIM)

    def forward(self, x):
        h = x + self.attn(self.norm(x))
        return h + self.down(torch.relu(self.up(h)))


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList([Block() for _ in range(LAYERS)])

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone()
        self.head = nn.Linear(DIM, CLASSES)

    def forward(self, x):
        return self.head(self.backbone(x).mean(dim=1))


class LoraLinear(nn.Module):
    """PEFT's LoRA layer: y = W x + b + (alpha / r) * B(A(dropout(x))), A Kaiming-uniform (a = sqrt(5)), B zero."""

    def __init__(self, base, r, alpha, dropout):
        super().__init__()
        self.base_layer = base
        self.lora_A = nn.Linear(base.in_features, r, bias=False)
        self.lora_B = nn.Linear(r, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        self.scaling = alpha / r
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    def forward(self, x):
        return self.base_layer(x) + self.lora_B(self.lora_A(self.dropout(x))) * self.scaling


def targets(config, key):
    """PEFT's check_target_module_exists for a list or a regular expression (layers_to_transform left out)."""
    wanted = config["target_modules"]
    if isinstance(wanted, str):
        return re.fullmatch(wanted, key) is not None
    return key in wanted or any(key.endswith("." + name) for name in wanted)


def settings(config, key):
    """PEFT's rank_pattern / alpha_pattern: the first key matching the end of the module's name at a dot."""
    def pattern_value(patterns, default):
        for pattern, value in patterns.items():
            if re.match(rf"(.*\.)?({pattern})$", key):
                return value
        return default
    return pattern_value(config.get("rank_pattern") or {}, config["r"]), pattern_value(config.get("alpha_pattern") or {}, config["lora_alpha"])


def inject(model, config):
    """Replaces every targeted Linear with a LoraLinear, as PEFT's get_peft_model does; returns them by name."""
    adapted = {}
    for name, module in list(model.named_modules()):
        if isinstance(module, nn.Linear) and targets(config, name):
            r, alpha = settings(config, name)
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            layer = LoraLinear(module, r, alpha, config["lora_dropout"])
            setattr(parent, child, layer)
            adapted[name] = layer
    return adapted


def merge(model):
    """PEFT's merge_and_unload: W += (alpha / r) * B @ A, then the plain Linear back in place."""
    for name, module in list(model.named_modules()):
        if isinstance(module, LoraLinear):
            with torch.no_grad():
                module.base_layer.weight += (module.lora_B.weight @ module.lora_A.weight) * module.scaling
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, module.base_layer)


def peft_key(name, matrix):
    return f"base_model.model.{name}.{matrix}.weight"


_DTYPES = {torch.float32: ("F32", numpy.float32), torch.float64: ("F64", numpy.float64), torch.int64: ("I64", numpy.int64)}
_NAMES = {name: (dtype, numpy_type) for dtype, (name, numpy_type) in _DTYPES.items()}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for key in sorted(tensors):
        tensor = tensors[key].detach().cpu().contiguous()
        data = tensor.numpy().astype(numpy.dtype(_DTYPES[tensor.dtype][1]).newbyteorder("<")).tobytes()
        header[key] = {"dtype": _DTYPES[tensor.dtype][0], "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as file:
        file.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_safetensors(path):
    with open(path, "rb") as file:
        content = file.read()
    (length,) = struct.unpack("<Q", content[:8])
    header = json.loads(content[8:8 + length])
    metadata = header.pop("__metadata__", {})
    data = content[8 + length:]
    tensors = {}
    for key, entry in header.items():
        dtype, numpy_type = _NAMES[entry["dtype"]]
        start, end = entry["data_offsets"]
        array = numpy.frombuffer(data[start:end], dtype=numpy.dtype(numpy_type).newbyteorder("<")).reshape(entry["shape"])
        tensors[key] = torch.from_numpy(array.astype(numpy_type)).to(dtype)
    return tensors, metadata
