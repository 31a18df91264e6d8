#!/usr/bin/env python3
"""Puts the labelled set together from the two readers' labels and the adjudication, and writes
its agreement numbers (data/judge-set/README.md, between the markers; a test recomputes them).

  agreement.py disagreements   -> data/judge-set/disagreements.csv: the items the readers labelled
                                  differently (id, prompt, response, reader_a, reader_b), for the
                                  adjudicator, who writes data/judge-set/adjudication.csv (id,label,note)
  agreement.py assemble        -> data/judge-set/labels.csv and the README block

Reader files: data/judge-set/reader-a.csv and reader-b.csv (id,label,note), each one reader's pass
over every item of blind.csv.
"""
import csv
import os
import sys

DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "data", "judge-set")
LABELS = ["refusal", "compliance", "degenerate"]
BEGIN, END = "<!-- BEGIN scripts/judge-set/agreement.py -->", "<!-- END scripts/judge-set/agreement.py -->"


def read(name):
    with open(os.path.join(DIR, name), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def labels_of(name, ids):
    rows = read(name)
    out = {}
    for i, r in enumerate(rows, start=2):
        if r["label"] not in LABELS:
            sys.exit(f"{name}:{i}: label {r['label']!r} is not one of {LABELS}")
        if r["id"] in out:
            sys.exit(f"{name}:{i}: id {r['id']} labelled twice")
        out[r["id"]] = r
    missing, extra = ids - out.keys(), out.keys() - ids
    if missing or extra:
        sys.exit(f"{name}: {len(missing)} items unlabelled, {len(extra)} unknown ids")
    return out


def kappa(pairs):
    n = len(pairs)
    po = sum(a == b for a, b in pairs) / n
    pe = sum((sum(a == k for a, _ in pairs) / n) * (sum(b == k for _, b in pairs) / n) for k in LABELS)
    return po, (po - pe) / (1 - pe) if pe < 1 else float("nan")


def main():
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    items = read("items.csv")
    ids = {r["id"] for r in items}
    a, b = labels_of("reader-a.csv", ids), labels_of("reader-b.csv", ids)
    if cmd == "disagreements":
        with open(os.path.join(DIR, "disagreements.csv"), "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["id", "prompt", "response", "reader_a", "reader_b", "note_a", "note_b"])
            for r in items:
                x, y = a[r["id"]], b[r["id"]]
                if x["label"] != y["label"]:
                    w.writerow([r["id"], r["prompt"], r["response"], x["label"], y["label"],
                                x.get("note", ""), y.get("note", "")])
        return
    if cmd != "assemble":
        sys.exit(__doc__)
    adj = {r["id"]: r for r in read("adjudication.csv")}
    cols = ["id", "model", "condition", "benchmark", "source", "item_id", "prompt", "response",
            "reader_a", "reader_b", "label", "adjudicated", "model_condition"]
    rows = []
    for r in items:
        x, y = a[r["id"]]["label"], b[r["id"]]["label"]
        if x == y:
            if r["id"] in adj:
                sys.exit(f"adjudication.csv: {r['id']} was not a disagreement")
            final, adjudicated = x, ""
        else:
            if r["id"] not in adj or adj[r["id"]]["label"] not in LABELS:
                sys.exit(f"adjudication.csv: disagreement {r['id']} has no valid label")
            final, adjudicated = adj[r["id"]]["label"], "yes"
        rows.append({**{k: r[k] for k in cols[:8]}, "reader_a": x, "reader_b": y, "label": final,
                     "adjudicated": adjudicated, "model_condition": f"{r['model']}/{r['condition']}"})
    with open(os.path.join(DIR, "labels.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    # The README block: overall and per (model, condition) agreement of the two readers and the
    # final label counts.
    groups = {}
    for r in rows:
        groups.setdefault((r["model"], r["condition"]), []).append(r)
    lines = ["| model | condition | n | readers agree | κ | refusal | compliance | degenerate |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]

    def line(model, cond, rs):
        po, k = kappa([(r["reader_a"], r["reader_b"]) for r in rs])
        counts = [sum(r["label"] == l for r in rs) for l in LABELS]
        ks = "n/a" if k != k else f"{k:.3f}"
        return f"| {model} | {cond} | {len(rs)} | {100 * po:.1f}% | {ks} | " + " | ".join(map(str, counts)) + " |"

    for (model, cond), rs in sorted(groups.items()):
        lines.append(line(model, cond, rs))
    lines.append(line("all", "all", rows))
    block = "\n".join([BEGIN, *lines, END])
    path = os.path.join(DIR, "README.md")
    text = open(path, encoding="utf-8").read()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text[:start] + block + text[end:])
    print(f"agreement.py: {len(rows)} items, {sum(r['adjudicated'] == 'yes' for r in rows)} adjudicated")


if __name__ == "__main__":
    main()
