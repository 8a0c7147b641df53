"""Writes real torch.save files the limits for PyTorch files must keep accepting (tests/.../PyTorchLimitsTests.cs):

- dtypes.pt: one tensor of each dtype PyBridge reads, a 0-dim tensor, an empty tensor, and two keys tied to one storage;
- protocol4.pt: the same state dict pickled with protocol 4 (FRAME, SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL);
- large.pt: 300 KB of float32 weights, past every buffer of the readers.

Run with Debian's PyTorch:
    /usr/bin/python3 make_state_dicts.py
"""
from collections import OrderedDict

import torch

torch.manual_seed(4321)
tied = torch.randn(3, 5)
state = OrderedDict(
    [
        ("f64", torch.randn(2, 3, dtype=torch.float64)),
        ("f32", torch.randn(4, 4)),
        ("f16", torch.randn(3).to(torch.float16)),
        ("bf16", torch.randn(2, 2).to(torch.bfloat16)),
        ("i64", torch.arange(-3, 3, dtype=torch.int64)),
        ("i32", torch.arange(5, dtype=torch.int32)),
        ("i16", torch.arange(7, dtype=torch.int16)),
        ("i8", torch.arange(-4, 4, dtype=torch.int8)),
        ("u8", torch.arange(250, 256, dtype=torch.uint8)),
        ("bool", torch.tensor([True, False, True])),
        ("c64", torch.randn(2, dtype=torch.complex64)),
        ("scalar", torch.tensor(2.5)),
        ("empty", torch.zeros(0, 4)),
        ("embedding.weight", tied),
        ("lm_head.weight", tied),
    ]
)
torch.save(state, "dtypes.pt")
torch.save(state, "protocol4.pt", pickle_protocol=4)
torch.save(OrderedDict([("weight", torch.randn(300, 256)), ("bias", torch.randn(256))]), "large.pt")
