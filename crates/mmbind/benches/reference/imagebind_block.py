"""The transformer block both PyTorch references use: ImageBind's pre-norm block with
`nn.MultiheadAttention` sequence-first (as the official code), optional learned bias_kv."""
import torch.nn as nn


class Block(nn.Module):
    def __init__(s, d, h, bias_kv):
        super().__init__()
        s.n1 = nn.LayerNorm(d, eps=1e-6); s.n2 = nn.LayerNorm(d, eps=1e-6)
        s.attn = nn.MultiheadAttention(d, h, add_bias_kv=bias_kv)
        s.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(s, x, mask=None):  # x: [L, B, D]
        y = s.n1(x)
        x = x + s.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + s.mlp(s.n2(x))
