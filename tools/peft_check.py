"""Loads an adapter trained by Spillover into Python PEFT and checks that PEFT reproduces Spillover's
logits. Run with any Python that has torch, transformers and peft:

    cargo run --release -p spillover-train --example peft_export -- fixtures/tiny/llama /tmp/peft-check
    python tools/peft_check.py fixtures/tiny/llama /tmp/peft-check

Exit status 0 when every logit agrees within 1e-4, 1 otherwise.
"""
import json
import sys

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM

TOL = 1e-4


def main(base_dir, out_dir):
    ref = json.load(open(f"{out_dir}/spillover_logits.json"))
    base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()
    model = PeftModel.from_pretrained(base, f"{out_dir}/adapter").eval()
    worst = 0.0
    with torch.no_grad():
        for ids, want in zip(ref["input_ids"], ref["logits"]):
            got = model(input_ids=torch.tensor([ids])).logits[0]
            worst = max(worst, (got - torch.tensor(want)).abs().max().item())
        with model.disable_adapter():
            off = model(input_ids=torch.tensor([ref["input_ids"][0]])).logits[0]
        moved = (off - torch.tensor(ref["logits"][0])).abs().max().item()
    print(f"PEFT vs Spillover: max |logit difference| = {worst:.3g} over {len(ref['input_ids'])} sequences "
          f"(tolerance {TOL}); the adapter moves logits by up to {moved:.3g}")
    return 0 if worst < TOL and moved > 10 * TOL else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
