"""Reads a PEFT adapter folder as PEFT's from_pretrained would, onto lora_reference.Classifier with the weights of
lora/base.safetensors, strictly: every adapter the config describes must have both matrices in adapter_model.safetensors,
with their shapes, and nothing else may be there. Writes the model's eval-mode outputs for the input of lora/io.safetensors
and prints what it read (the keys and the config) as JSON. Exits with 1 and a message when the folder is not what PEFT
would accept.

    /usr/bin/python3 read_adapters.py <adapter folder> <lora folder> <outputs.safetensors>
"""
import json
import sys

import torch

from lora_reference import Classifier, inject, peft_key, read_safetensors, write_safetensors

folder, reference, out = sys.argv[1:4]
with open(f"{folder}/adapter_config.json") as file:
    config = json.load(file)
adapters, metadata = read_safetensors(f"{folder}/adapter_model.safetensors")

model = Classifier()
base, _ = read_safetensors(f"{reference}/base.safetensors")
model.load_state_dict(base, strict=True)
if config.get("peft_type") != "LORA":
    sys.exit(f"peft_type is {config.get('peft_type')!r}, not 'LORA'")
adapted = inject(model, config)
expected = {}
for name, layer in adapted.items():
    expected[peft_key(name, "lora_A")] = layer.lora_A.weight
    expected[peft_key(name, "lora_B")] = layer.lora_B.weight
problems = [f"missing {key}" for key in sorted(expected.keys() - adapters.keys())]
problems += [f"unexpected {key}" for key in sorted(adapters.keys() - expected.keys())]
problems += [f"shape of {key}: {list(adapters[key].shape)}, PEFT expects {list(expected[key].shape)}"
             for key in sorted(expected.keys() & adapters.keys()) if adapters[key].shape != expected[key].shape]
if problems:
    sys.exit("\n".join(problems))
with torch.no_grad():
    for key, parameter in expected.items():
        parameter.copy_(adapters[key])

io, _ = read_safetensors(f"{reference}/io.safetensors")
model.eval()
with torch.no_grad():
    write_safetensors(out, {"output": model(io["input"])})
print(json.dumps({"keys": sorted(adapters), "metadata": metadata, "config": config}))
