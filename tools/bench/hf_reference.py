#!/usr/bin/env python3
"""Reference side of `spillover bench engine`: the same workloads through HF transformers (float32,
CPU) and lm-evaluation-harness, timed in this process while Spillover times its own side in turns.

Spillover starts this script, which loads the model from the same GGUF file and answers one JSON
command per stdin line with one JSON line on stdout (progress and warnings go to stderr):

  {"task": "generate", "prompts": [[ids]], "max_new_tokens": N, "batch_size": B, "pad_id": P, "stop_ids": [..]}
      greedy `generate` on left-padded batches of B prompts -> {"seconds", "new_ids": [[ids]]}
  {"task": "score", "requests": [[ctx_ids, cont_ids]], "batch_size": B}
      plain forward of ctx + cont[:-1], right-padded, log-softmax over every position (as
      lm-evaluation-harness computes it) -> {"seconds", "results": [[logprob, is_greedy]]}
  {"task": "lm_eval", "requests": [[ctx_text, cont_text]], "batch_size": B}
      HFLM (wrapping the same model object).loglikelihood -> {"seconds", "results", "token_mismatches"}
  {"task": "prefill", "ids": [[ids]]}
      one forward with a KV cache and the last position's logits -> {"seconds"}

Python and torch are used only by this benchmark, never by Spillover itself. Setup (throwaway venv):
  python3 -m venv /tmp/spillover-bench && /tmp/spillover-bench/bin/pip install torch transformers gguf accelerate lm-eval
"""

import argparse
import json
import os
import sys
import time


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gguf", required=True, help="the model's .gguf file")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    a = ap.parse_args()

    t0 = time.perf_counter()
    try:
        import torch
        import transformers
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except Exception as e:  # noqa: BLE001 - report any import failure to the caller
        reply({"error": f"cannot import torch/transformers: {e}"})
        return
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    d, f = os.path.split(os.path.abspath(a.gguf))
    tok = AutoTokenizer.from_pretrained(d, gguf_file=f)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=f, dtype=torch.float32)
    model.eval()
    versions = {"torch": torch.__version__, "transformers": transformers.__version__}
    try:
        import lm_eval

        versions["lm_eval"] = lm_eval.__version__
    except Exception:  # noqa: BLE001
        versions["lm_eval"] = None
    reply({
        "ready": True,
        "load_seconds": time.perf_counter() - t0,
        "threads": torch.get_num_threads(),
        "attn_implementation": model.config._attn_implementation,
        "versions": versions,
    })
    tasks = {"generate": generate, "score": score, "lm_eval": lm_eval_score, "prefill": prefill}
    state = {"torch": torch, "model": model, "tok": tok, "lm": None}
    for line in sys.stdin:
        if not line.strip():
            continue
        cmd = json.loads(line)
        try:
            with torch.inference_mode():
                reply(tasks[cmd["task"]](state, cmd))
        except Exception as e:  # noqa: BLE001 - the caller reports it and goes on without this number
            import traceback

            traceback.print_exc()
            reply({"error": f"{cmd.get('task')}: {type(e).__name__}: {e}"})


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def generate(s, cmd):
    torch, model = s["torch"], s["model"]
    prompts, b, pad = cmd["prompts"], cmd["batch_size"], cmd["pad_id"]
    out = []
    t0 = time.perf_counter()
    for i in range(0, len(prompts), b):
        batch = prompts[i:i + b]
        width = max(len(p) for p in batch)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
        gen = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=cmd["max_new_tokens"], do_sample=False,
            num_beams=1, eos_token_id=cmd["stop_ids"], pad_token_id=pad, temperature=None, top_p=None,
            top_k=None,
        )
        for row in gen[:, width:].tolist():
            cut = next((k + 1 for k, t in enumerate(row) if t in cmd["stop_ids"]), len(row))
            out.append(row[:cut])
    return {"seconds": time.perf_counter() - t0, "new_ids": out}


def score(s, cmd):
    torch, model = s["torch"], s["model"]
    reqs = cmd["requests"]
    order = sorted(range(len(reqs)), key=lambda i: -(len(reqs[i][0]) + len(reqs[i][1])))
    results = [None] * len(reqs)
    b = cmd["batch_size"]
    t0 = time.perf_counter()
    for k in range(0, len(order), b):
        idx = order[k:k + b]
        seqs = [(reqs[i][0] + reqs[i][1])[:-1] for i in idx]
        width = max(len(x) for x in seqs)
        ids = torch.tensor([x + [0] * (width - len(x)) for x in seqs])
        mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in seqs])
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for row, i in enumerate(idx):
            ctx, cont = reqs[i]
            n = len(cont)
            start = len(ctx) - 1
            lp = logp[row, start:start + n]
            tgt = torch.tensor(cont)
            total = lp.gather(1, tgt[:, None]).sum().item()
            results[i] = [total, bool((lp.argmax(-1) == tgt).all())]
    return {"seconds": time.perf_counter() - t0, "results": results}


def lm_eval_score(s, cmd):
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    if s["lm"] is None or s["lm"].batch_size != cmd["batch_size"]:
        s["lm"] = HFLM(pretrained=s["model"], tokenizer=s["tok"], batch_size=cmd["batch_size"], device="cpu")
    lm = s["lm"]
    insts = [
        Instance(request_type="loglikelihood", doc={}, arguments=(c, x), idx=i)
        for i, (c, x) in enumerate(cmd["requests"])
    ]
    mismatches = 0
    for (c, x), want in zip(cmd["requests"], cmd.get("token_ids", [])):
        ctx, cont = lm._encode_pair(c, x)
        mismatches += int([list(ctx), list(cont)] != want)
    t0 = time.perf_counter()
    res = lm.loglikelihood(insts, disable_tqdm=True)
    secs = time.perf_counter() - t0
    return {"seconds": secs, "results": [[float(a), bool(b)] for a, b in res], "token_mismatches": mismatches}


def prefill(s, cmd):
    torch, model = s["torch"], s["model"]
    ids = torch.tensor(cmd["ids"])
    t0 = time.perf_counter()
    model(input_ids=ids, use_cache=True, logits_to_keep=1)
    return {"seconds": time.perf_counter() - t0}


if __name__ == "__main__":
    main()
