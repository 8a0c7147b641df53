"""Writes the LoRA reference files under lora/, with real PyTorch and the LoRA formula as PEFT computes it:

- lora/base.safetensors: the weights of lora_reference.Classifier (backbone.* and head.*), the frozen base;
- lora/peft-adapter/: a PEFT adapter folder as PEFT's save_pretrained writes it (adapter_config.json, with a rank_pattern,
  and adapter_model.safetensors with keys base_model.model.<path>.lora_A.weight / .lora_B.weight), its B matrices
  non-zero as after training;
- lora/io.safetensors: an input, and PyTorch's outputs for it in eval mode: of the base model ("base"), with the adapters
  ("adapted"), and after merging them into the base weights ("merged");
- lora/merged.safetensors: the model's weights after the merge.

Run with Debian's PyTorch, from this folder:
    /usr/bin/python3 make_lora.py
"""
import json
import os

import torch

from lora_reference import Classifier, inject, merge, peft_key, write_safetensors

# As PEFT's LoraConfig.save_pretrained writes it: every field, sorted, two-space indent, inference_mode true.
CONFIG = {
    "alpha_pattern": {},
    "auto_mapping": None,
    "base_model_name_or_path": None,
    "bias": "none",
    "fan_in_fan_out": False,
    "inference_mode": True,
    "init_lora_weights": True,
    "layer_replication": None,
    "layers_pattern": None,
    "layers_to_transform": None,
    "loftq_config": {},
    "lora_alpha": 8,
    "lora_dropout": 0.1,
    "megatron_config": None,
    "megatron_core": "megatron.core",
    "modules_to_save": None,
    "peft_type": "LORA",
    "r": 4,
    "rank_pattern": {"layers.1.attn.v_proj": 2},
    "revision": None,
    "target_modules": ["q_proj", "v_proj"],
    "task_type": None,
    "use_dora": False,
    "use_rslora": False,
}

torch.manual_seed(2024)
model = Classifier()
with torch.no_grad():
    for name, parameter in model.named_parameters():
        if "norm" in name:
            parameter.add_(torch.randn_like(parameter) * 0.1)  # LayerNorm weights of their own, not ones and zeros
model.eval()
os.makedirs("lora/peft-adapter", exist_ok=True)
write_safetensors("lora/base.safetensors", model.state_dict())

x = torch.randn(4, 5, 16)
with torch.no_grad():
    base = model(x)

adapted = inject(model, CONFIG)
with torch.no_grad():
    for layer in adapted.values():
        layer.lora_B.weight.copy_(torch.randn_like(layer.lora_B.weight) * 0.2)  # as after training
model.eval()
adapters = {}
for name, layer in adapted.items():
    adapters[peft_key(name, "lora_A")] = layer.lora_A.weight
    adapters[peft_key(name, "lora_B")] = layer.lora_B.weight
write_safetensors("lora/peft-adapter/adapter_model.safetensors", adapters, {"format": "pt"})
with open("lora/peft-adapter/adapter_config.json", "w") as file:
    file.write(json.dumps(CONFIG, indent=2, sort_keys=True) + "\n")
with torch.no_grad():
    with_adapters = model(x)

merge(model)
with torch.no_grad():
    merged = model(x)
write_safetensors("lora/merged.safetensors", model.state_dict())
write_safetensors("lora/io.safetensors", {"input": x, "base": base, "adapted": with_adapters, "merged": merged})
