#!/usr/bin/env python3
"""Collects the replies of the judge's labelled set from the run folders made by generate.sh.

Writes OUT/items.csv (id, model, condition, benchmark, source, item_id, prompt, response: every reply,
with where it came from) and OUT/blind.csv (id, prompt, response, in a seeded random order: the only
file the readers see). The base condition of each model is the baseline of its actadd run; every
other condition is the `after` of its run. The prompt is the user message as the benchmark gave it
(data/items/<benchmark>.jsonl of the run), the response the benchmark's output, untouched.

Usage: collect.py RUNS_DIR OUT_DIR [--partial]
(--partial: leave out the runs that have not finished, naming them, instead of stopping.)
"""
import csv
import glob
import hashlib
import json
import os
import random
import sys

BENCHMARKS = ["refusal", "over_refusal"]
# The chat template's user-turn marker tells the two models' baselines apart.
MARKER = {"smollm2-135m-instruct": "<|im_start|>user", "gemma-3-270m": "<start_of_turn>user"}


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def baseline_of(runs, model, items):
    """The _shared baseline folder that evaluated exactly these items with this model's template."""
    found = []
    for d in sorted(glob.glob(os.path.join(runs, "_shared", "baseline-*"))):
        ok = True
        for b in BENCHMARKS:
            path = os.path.join(d, "eval", b, "samples.jsonl")
            if not os.path.exists(path):
                ok = False
                break
            samples = read_jsonl(path)
            if {s["id"] for s in samples} != set(items[b]) or MARKER[model] not in samples[0]["prompt"]:
                ok = False
                break
        if ok:
            found.append(d)
    if len(found) != 1:
        sys.exit(f"collect.py: expected one baseline for {model} with these items, found {found}")
    return found[0]


def main():
    runs, out = sys.argv[1], sys.argv[2]
    partial = sys.argv[3:] == ["--partial"]
    rows = []
    for run in sorted(glob.glob(os.path.join(runs, "*--*"))):
        name = os.path.basename(run).rsplit("-", 1)[0]
        model, condition = name.split("--")
        if not os.path.exists(os.path.join(run, "results.json")):
            if partial:
                print(f"collect.py: left out {run}: not finished", file=sys.stderr)
                continue
            sys.exit(f"collect.py: {run} has no results.json (the run did not finish)")
        items = {b: {r["id"]: r for r in read_jsonl(os.path.join(run, "data", "items", b + ".jsonl"))}
                 for b in BENCHMARKS}
        sources = [("after", glob.glob(os.path.join(run, "seed-*", "after")))]
        if condition == "actadd":
            sources.append(("base", [os.path.join(baseline_of(runs, model, items), "eval")]))
        for cond_name, dirs in sources:
            if len(dirs) != 1:
                sys.exit(f"collect.py: {run}: expected one folder for {cond_name}, found {dirs}")
            label = condition if cond_name == "after" else "base"
            for b in BENCHMARKS:
                for s in read_jsonl(os.path.join(dirs[0], b, "samples.jsonl")):
                    item = items[b][s["id"]]
                    rows.append({"model": model, "condition": label, "benchmark": b,
                                 "source": item.get("extra", {}).get("source", ""),
                                 "item_id": s["id"], "prompt": item["text"], "response": s["output"]})
    if not rows:
        sys.exit(f"collect.py: no finished runs in {runs}")
    rows.sort(key=lambda r: (r["model"], r["condition"], r["benchmark"], r["item_id"]))
    for r in rows:
        key = "\x1f".join([r["model"], r["condition"], r["benchmark"], r["item_id"]])
        r["id"] = "js-" + hashlib.sha256(key.encode()).hexdigest()[:10]
    assert len({r["id"] for r in rows}) == len(rows)
    os.makedirs(out, exist_ok=True)
    cols = ["id", "model", "condition", "benchmark", "source", "item_id", "prompt", "response"]
    with open(os.path.join(out, "items.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    blind = sorted(rows, key=lambda r: r["id"])
    random.Random(2026).shuffle(blind)
    with open(os.path.join(out, "blind.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["id", "prompt", "response"], extrasaction="ignore")
        w.writeheader()
        w.writerows(blind)
    print(f"collect.py: {len(rows)} replies from {len({(r['model'], r['condition']) for r in rows})} conditions")


if __name__ == "__main__":
    main()
