"""Writes encoder.pt (a PyTorch state dict), encoder-io.pt (an input and PyTorch's output for it) and
nested-training-checkpoint.pt (a training checkpoint whose weights sit one level down, which is refused).

The module mirrors tests/CheckpointGen.Runtime.Tests/Models/Encoder.cs key for key. Run with Debian's PyTorch:
    /usr/bin/python3 make_encoder.py
"""
import torch
from torch import nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.input = nn.Linear(16, 32)
        self.norm = nn.BatchNorm1d(32)
        self.output = nn.Linear(32, 8)

    def forward(self, x):
        return self.output(torch.relu(self.norm(self.input(x))))


torch.manual_seed(1234)
encoder = Encoder()
encoder.train()
with torch.no_grad():
    for _ in range(3):
        encoder(torch.randn(64, 16))  # gives the BatchNorm running statistics of its own
encoder.eval()
x = torch.randn(5, 16)
with torch.no_grad():
    y = encoder(x)
torch.save(encoder.state_dict(), "encoder.pt")
torch.save({"input": x, "output": y}, "encoder-io.pt")
torch.save({"model": {"w": torch.ones(2)}, "epoch": 3}, "nested-training-checkpoint.pt")
