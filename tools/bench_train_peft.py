"""PyTorch + PEFT side of `spillover bench train`: LoRA (r, alpha, targets as given) on the same GGUF
model (dequantized to float32 by transformers), the same batch (token ids from a JSON file), loss on
every token, AdamW; one untimed warm-up step, then STEPS timed steps. Prints one JSON object.

    python tools/bench_train_peft.py MODEL_DIR GGUF_FILE BATCH.json STEPS R ALPHA TARGETS THREADS
"""
import json
import sys
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM


def main(model_dir, gguf, batch_file, steps, r, alpha, targets, threads):
    torch.set_num_threads(int(threads))
    torch.manual_seed(0)
    ids = torch.tensor(json.load(open(batch_file)))
    model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=gguf, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=int(r), lora_alpha=float(alpha), lora_dropout=0.0,
                                             target_modules=targets.split(",")))
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        return float(loss)

    step()
    start = time.perf_counter()
    losses = [step() for _ in range(int(steps))]
    secs = time.perf_counter() - start
    tokens = ids.numel() * int(steps)
    print(json.dumps({"seconds": secs, "tokens_per_second": tokens / secs, "losses": losses,
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main(*sys.argv[1:])
