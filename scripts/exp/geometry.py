#!/usr/bin/env python3
# Vision-space geometry of a trained model on a world's test split (needs numpy):
#   scripts/exp/geometry.py target/release/mmbind WORLD MODEL
# Prints, as JSON: the mean cosine of one-object images of one concept (same_one), of a one-object
# image and a two-object image holding its concept (one_vs_pair), of two images of one pair
# (same_pair); each pair's mean image against the normalised sum of its two concepts' mean images
# (pair_centroid_vs_sum); image+image arithmetic (first one-object image of A + of B: is the
# nearest other test image one of A and B?) and the same from the two concepts' mean images
# (cent_arith); the nearest same-concept neighbour of a one-object image; and the mean cosine of
# one-object images of different concepts (c_single).
import json, sys, subprocess, numpy as np
bin_, world, model = sys.argv[1:4]
rows = [json.loads(l) for l in open(f"{world}/pairs.jsonl")]
test = [r for r in rows if r["split"] == "test"]
paths = [f"{world}/{r['vision']}" for r in test]
run = subprocess.run([bin_, "embed", "--model", model, "--vision", *paths], capture_output=True, text=True)
if run.returncode != 0:
    sys.exit(f"geometry: mmbind embed failed: {run.stderr.strip()}")
out = run.stdout
emb = {}
for l in out.splitlines():
    j = json.loads(l); emb[j["input"]] = np.array(j["embedding"], dtype=np.float64)
V = np.stack([emb[p] for p in paths]); V /= np.linalg.norm(V, axis=1, keepdims=True)
C = [tuple(sorted(r["concepts"])) for r in test]
S = V @ V.T
one = [i for i, c in enumerate(C) if len(c) == 1]; two = [i for i, c in enumerate(C) if len(c) == 2]
def mean_where(f):
    v = [S[i, j] for i in range(len(C)) for j in range(i + 1, len(C)) if f(i, j)]
    return np.mean(v) if v else float('nan')
same1 = mean_where(lambda i, j: len(C[i]) == 1 and C[i] == C[j])
a_ab = mean_where(lambda i, j: (len(C[i]) == 1 and len(C[j]) == 2 and C[i][0] in C[j]) or (len(C[j]) == 1 and len(C[i]) == 2 and C[j][0] in C[i]))
same2 = mean_where(lambda i, j: len(C[i]) == 2 and C[i] == C[j])
cent = {}
for c in set(C): cent[c] = V[[i for i in range(len(C)) if C[i] == c]].mean(0)
pc = []
for c in cent:
    if len(c) == 2 and (c[0],) in cent and (c[1],) in cent:
        s = cent[(c[0],)] / np.linalg.norm(cent[(c[0],)]) + cent[(c[1],)] / np.linalg.norm(cent[(c[1],)])
        pc.append(cent[c] @ s / np.linalg.norm(cent[c]) / np.linalg.norm(s))
# image + image arithmetic: first one-object image of A + of B -> top-1 is {A,B}
first = {}
for i in one: first.setdefault(C[i][0], i)
ok = tr = 0
for pair in set(C[i] for i in two):
    a, b = pair
    if a not in first or b not in first: continue
    q = V[first[a]] + V[first[b]]; s = V @ q; s[[first[a], first[b]]] = -9
    tr += 1; ok += C[int(np.argmax(s))] == pair
ok2 = tr2 = 0
for pair in set(C[i] for i in two):
    a, b = pair
    if (a,) not in cent or (b,) not in cent: continue
    q = cent[(a,)] / np.linalg.norm(cent[(a,)]) + cent[(b,)] / np.linalg.norm(cent[(b,)]); s = V @ q
    tr2 += 1; ok2 += C[int(np.argmax(s))] == pair
# nearest same-concept neighbour of a one-object image
nn1 = np.mean([max(S[i, j] for j in one if j != i and C[j] == C[i]) for i in one])
print(json.dumps(dict(cent_arith=round(ok2 / tr2, 3), nn_same_one=round(float(nn1), 3), c_single=round(mean_where(lambda i, j: len(C[i]) == 1 and len(C[j]) == 1 and C[i] != C[j]), 3))))
print(json.dumps(dict(same_one=round(same1, 3), one_vs_pair=round(a_ab, 3), same_pair=round(same2, 3), pair_centroid_vs_sum=round(float(np.mean(pc)), 3), img_img_arith=round(ok / tr, 3))))
