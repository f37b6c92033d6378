"""PyTorch reference for `cargo bench --bench train`: one training step of each phase of
mmbind's tiny preset, in PyTorch eager on the CPU.

The tiny preset's encoders (2 blocks, 64 wide but vision 128; vision, text, depth and IMU 8
heads, audio and thermal 4; all but vision and text with learned bias_kv; out_dim 64) written from ImageBind's architecture, random weights, batch 64,
float32. A step is what `mmbind train` does per batch: forward, the loss, backward, gradient
clipping at norm 1 and AdamW (lr 2e-3, weight decay 0.05).
- vision+text: both encoders trained, symmetric InfoNCE with text's learned logit scale;
  the whole 49,408-row token table is a dense parameter here (mmbind trains only the rows the
  captions use, so it does less work there).
- X→vision (audio, depth, thermal, IMU): the X encoder trained against a frozen anchor whose
  embeddings of every training pair are known (`negatives: all`): X→anchor over a bank of
  BANK rows, anchor→X over the batch.

    python3 benches/reference/torch_train.py [--threads N] [--seconds S] [--bank 600]

Prints `| backend | phase | samples/s | ms/step |` rows; `benches/side_by_side.py --what train`
runs it beside the Rust bench.
"""
import argparse, time, torch, torch.nn as nn, torch.nn.functional as F
from imagebind_block import Block
ap = argparse.ArgumentParser()
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--seconds", type=float, default=2.0)
ap.add_argument("--bank", type=int, default=600)
ap.add_argument("--only", action="append", default=[])
args = ap.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
B, WIDTH, OUT = 64, 64, 64

class Enc(nn.Module):
    """The tiny preset's geometry: vision 3×64×64 (2×8×8 patches of two identical frames),
    text 32 tokens, audio 1×64×204 (16×16 patches), depth/thermal 1×64×64 (8×8), IMU 6×400
    (windows of 20)."""
    def __init__(s, m):
        super().__init__()
        s.m = m
        h = 8 if m in ("vision", "text", "depth", "imu") else 4
        D = 128 if m == "vision" else WIDTH
        if m == "vision":
            s.stem = nn.Conv3d(3, D, (2, 8, 8), (2, 8, 8), bias=False); n = 64
        elif m == "text":
            s.tok = nn.Embedding(49408, D); n = 32
            s.register_buffer("mask", torch.full((32, 32), float("-inf")).triu(1))
            s.log_scale = nn.Parameter(torch.tensor(1 / 0.07).log())
        elif m == "audio":
            s.stem = nn.Conv2d(1, D, 16, 16, bias=False); s.sn = nn.LayerNorm(D); n = 4 * 12
        elif m in ("depth", "thermal"):
            s.stem = nn.Conv2d(1, D, 8, 8, bias=False); s.sn = nn.LayerNorm(D); n = 64
        else:
            s.stem = nn.Linear(120, D, bias=False); s.sn = nn.LayerNorm(D); n = 20
        s.cls = nn.Parameter(torch.zeros(1, 1, D)) if m != "text" else None
        s.pos = nn.Parameter(torch.randn(1, n + (m != "text"), D) * 0.02)
        s.pre = nn.LayerNorm(D, eps=1e-6) if m == "vision" else None
        s.blocks = nn.ModuleList(Block(D, h, m not in ("vision", "text")) for _ in range(2))
        s.norm = nn.LayerNorm(D, eps=1e-6)
        s.head = nn.Linear(D, OUT, bias=False)
    def forward(s, x):
        if s.m == "vision":
            x = s.stem(torch.stack([x, x], 2)).flatten(2).transpose(1, 2)
        elif s.m == "text":
            ids = x; x = s.tok(ids)
        elif s.m == "imu":
            x = s.sn(s.stem(x.unfold(-1, 20, 20).permute(0, 2, 1, 3).reshape(x.shape[0], 20, 120)))
        else:
            x = s.sn(s.stem(x).flatten(2).transpose(1, 2))
        if s.cls is not None:
            x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1)
        x = x + s.pos
        if s.pre is not None:
            x = s.pre(x)
        x = x.transpose(0, 1)
        for b in s.blocks:
            x = b(x, s.mask if s.m == "text" else None)
        x = s.norm(x.transpose(0, 1))
        x = x[torch.arange(x.shape[0]), ids.argmax(-1)] if s.m == "text" else x[:, 0]
        x = F.normalize(s.head(x), dim=-1)
        return x * s.log_scale.exp().clamp(max=100) if s.m == "text" else x

def inputs(m):
    if m == "vision": return torch.randn(B, 3, 64, 64)
    if m == "text": return torch.randint(0, 49407, (B, 32))
    if m == "audio": return torch.randn(B, 1, 64, 204)
    if m in ("depth", "thermal"): return torch.randn(B, 1, 64, 64)
    return torch.randn(B, 6, 400)

def step_fn(params, loss_fn):
    opt = torch.optim.AdamW(params, lr=2e-3, weight_decay=0.05)
    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
    return step

phases = {}
vision, text = Enc("vision"), Enc("text")
xv, xt = inputs("vision"), inputs("text")
def joint():
    v, t = vision(xv), text(xt)  # text carries the logit scale
    logits = v @ t.T
    target = torch.arange(B)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
phases["vision+text"] = step_fn(list(vision.parameters()) + list(text.parameters()), joint)
for m in ["audio", "depth", "thermal", "imu"]:
    enc, x = Enc(m), inputs(m)
    bank = F.normalize(torch.randn(args.bank, OUT), dim=-1)
    targets = torch.randint(0, args.bank, (B,))
    # The tiny preset's fixed logit scales (src/config/presets.rs; depth 10, not ImageBind's 5).
    scale = {"audio": 20.0, "depth": 10.0, "thermal": 10.0, "imu": 5.0}[m]
    def frozen(enc=enc, x=x, bank=bank, targets=targets, scale=scale):
        e = enc(x) * scale
        anchors = bank[targets]
        to_bank = F.log_softmax(e @ bank.T, 1).gather(1, targets[:, None]).sum()
        to_x = torch.diagonal(F.log_softmax(e @ anchors.T, 0)).sum()
        return -(to_bank + to_x) / (2 * B)
    phases[f"{m}→vision"] = step_fn(list(enc.parameters()), frozen)

print("| backend | phase | samples/s | ms/step |")
print("|---|---|---|---|")
for name, step in phases.items():
    if args.only and not any(o in name for o in args.only):
        continue
    for _ in range(3): step()
    n, t0 = 0, time.perf_counter()
    while n < 3 or time.perf_counter() - t0 < args.seconds:
        step(); n += 1
    dt = (time.perf_counter() - t0) / n
    print(f"| torch {torch.__version__} cpu, {torch.get_num_threads()} threads | {name} | {B / dt:.0f} | {dt * 1e3:.1f} |", flush=True)
