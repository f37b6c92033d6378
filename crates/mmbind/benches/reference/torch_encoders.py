"""PyTorch reference for `cargo bench --bench encoders`, on the CPU or a CUDA GPU.

ImageBind's six encoders written from its architecture (nn.MultiheadAttention, sequence-first
as in the official code), random weights, at the bench's two configurations (the tiny
fixture's, and every encoder 384 wide with 12 blocks and 6 heads at ImageBind's input
geometry), batch 8, float32 with TF32 off (mmbind computes in f32), eval mode and no_grad.
Each call is timed until the embedding is back on the host, as the Rust bench's into_data.

    python3 benches/reference/torch_encoders.py [--device cpu|cuda] [--threads N]
                                               [--seconds S] [--only SUBSTRING]

Prints the same table as the Rust bench; `benches/side_by_side.py` runs both in one
invocation, rounds interleaved, and prints the ratios.
"""
import argparse, time, torch, torch.nn as nn, torch.nn.functional as F
from imagebind_block import Block
ap = argparse.ArgumentParser()
ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
ap.add_argument("--seconds", type=float, default=0.5, help="per measurement")
ap.add_argument("--only", action="append", default=[], help="rows whose config/modality contains it")
args = ap.parse_args()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
dev = args.device
if args.threads:
    torch.set_num_threads(args.threads)
B = 8

class Enc(nn.Module):
    def __init__(s, m, d, nb, h, out, scale):
        super().__init__()
        s.m, s.scale = m, scale
        if m == "vision":
            s.stem = nn.Conv3d(3, d, (2, 14, 14), (2, 14, 14), bias=False); n = 256
        elif m == "text":
            s.tok = nn.Embedding(49408, d); n = 76
            s.register_buffer("mask", torch.full((77, 77), float("-inf")).triu(1))
        elif m == "audio":
            s.stem = nn.Conv2d(1, d, 16, 10, bias=False); s.sn = nn.LayerNorm(d); n = 12 * 19
        elif m in ("depth", "thermal"):
            s.stem = nn.Conv2d(1, d, 16, 16, bias=False); s.sn = nn.LayerNorm(d); n = 196
        else:
            s.stem = nn.Linear(48, d, bias=False); s.sn = nn.LayerNorm(d); n = 250
        s.cls = nn.Parameter(torch.zeros(1, 1, d)) if m != "text" else None
        s.pos = nn.Parameter(torch.randn(1, n + 1, d) * 0.02)
        s.pre = nn.LayerNorm(d, eps=1e-6) if m == "vision" else None
        s.blocks = nn.ModuleList(Block(d, h, m not in ("vision", "text")) for _ in range(nb))
        s.norm = nn.LayerNorm(d, eps=1e-6)
        s.head = nn.Linear(d, out, bias=False)
    def forward(s, x):
        if s.m == "vision":
            x = torch.stack([x, x], 2)  # PadIm2Video: an image becomes 2 frames
            x = s.stem(x).flatten(2).transpose(1, 2)
        elif s.m == "text":
            ids = x; x = s.tok(ids)
        elif s.m == "imu":
            x = s.sn(s.stem(x.unfold(-1, 8, 8).permute(0, 2, 1, 3).reshape(x.shape[0], 250, 48)))
        else:
            x = s.sn(s.stem(x).flatten(2).transpose(1, 2))
        if s.cls is not None:
            x = torch.cat([s.cls.expand(x.shape[0], -1, -1), x], 1)
        x = x + s.pos
        if s.pre is not None:
            x = s.pre(x)
        x = x.transpose(0, 1)
        mask = s.mask if s.m == "text" else None
        for b in s.blocks:
            x = b(x, mask)
        x = s.norm(x.transpose(0, 1))
        x = x[torch.arange(x.shape[0]), ids.argmax(-1)] if s.m == "text" else x[:, 0]
        x = F.normalize(s.head(x), dim=-1)
        return x * s.scale

def inputs(m):
    if m == "vision": return torch.randn(B, 3, 224, 224)
    if m == "text": return torch.randint(0, 49407, (B, 77))
    if m == "audio": return torch.randn(B * 3, 1, 128, 204)
    if m in ("depth", "thermal"): return torch.randn(B, 1, 224, 224)
    return torch.randn(B, 6, 2000)

configs = {
    "tiny-fixture": dict(vision=(64, 2, 4), text=(64, 2, 4), audio=(48, 2, 4), depth=(32, 2, 4),
                         thermal=(48, 2, 4), imu=(32, 2, 4), out=32),
    "mid-384x12": {**{m: (384, 12, 6) for m in ["vision", "text", "audio", "depth", "thermal", "imu"]}, "out": 512},
}
budget = args.seconds
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
where = (f"cuda ({torch.cuda.get_device_name()})" if dev == "cuda"
         else f"cpu, {torch.get_num_threads()} threads")
print(f"| config | backend | modality | ms/batch of {B} | embeddings/s |")
print("|---|---|---|---|---|")
for name, cfg in configs.items():
    for m in ["vision", "text", "audio", "depth", "thermal", "imu"]:
        if args.only and not any(o in f"{name}/{m}" for o in args.only):
            continue
        d, nb, h = cfg[m]
        enc = Enc(m, d, nb, h, cfg["out"], 1.0).to(dev).eval()
        x = inputs(m).to(dev)
        def run():
            with torch.no_grad():
                e = enc(x)
                if m == "audio":
                    e = e.reshape(B, 3, -1).mean(1)
                return e.cpu()
        for _ in range(3): run()
        sync()
        n, t0 = 0, time.perf_counter()
        while n < 2 or time.perf_counter() - t0 < budget:
            run(); n += 1
        dt = (time.perf_counter() - t0) / n
        print(f"| {name} | torch {torch.__version__} {where} | {m} | {dt*1e3:.1f} | {B/dt:.1f} |", flush=True)
