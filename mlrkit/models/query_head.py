"""Query2Label/SADCL-style head: one learnable query per class reads the feature map.

The map is projected to D channels by a 1x1 conv, flattened to ``N = H W`` tokens, given a 2D
sine positional encoding (DETR), refined by a small transformer encoder and read by K class
queries through a transformer decoder (post-norm layers, as in Query2Label and SADCL's released
code: 1 encoder layer, 2 decoder layers, 4 heads). The decoder outputs are the class features
``(B, K, D)``; a group-wise linear layer gives the logits. The positional encoding is added to
queries/keys only, never to values. Attention-probability dropout is off so the returned
cross-attention maps of the last decoder layer (mean over heads) sum to 1 over positions;
dropout acts on the residual branches.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from mlrkit.errors import InvalidInputError
from mlrkit.models.heads import GroupWiseLinear
from mlrkit.models.output import ModelOutput


def sine_position_encoding(height: int, width: int, dim: int, device=None) -> Tensor:
    """DETR's 2D sine encoding: ``(H W, D)``, first D/2 channels encode y, the rest x.

    Each half interleaves ``sin(pos / 10000^(2i/d))`` and ``cos(...)`` with positions normalised
    to ``(0, 2 pi]``.
    """
    if dim % 4:
        raise InvalidInputError(f"Positional encoding needs a dimension divisible by 4, got {dim}.")
    quarter = dim // 4
    freqs = 10000.0 ** (torch.arange(quarter, device=device, dtype=torch.float32) * 2 / (dim // 2))
    ys = torch.arange(1, height + 1, device=device, dtype=torch.float32) / height * 2 * math.pi
    xs = torch.arange(1, width + 1, device=device, dtype=torch.float32) / width * 2 * math.pi

    def encode(pos: Tensor) -> Tensor:
        angles = pos[:, None] / freqs  # (L, D/4)
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(1)  # (L, D/2)

    pos_y = encode(ys)[:, None, :].expand(height, width, dim // 2)
    pos_x = encode(xs)[None, :, :].expand(height, width, dim // 2)
    return torch.cat((pos_y, pos_x), dim=-1).reshape(height * width, dim)  # (N, D)


class _FeedForward(nn.Sequential):
    def __init__(self, dim: int, hidden: int, dropout: float) -> None:
        super().__init__(
            nn.Linear(dim, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, dim),
        )


class _EncoderLayer(nn.Module):
    """Post-norm self-attention layer over the map tokens, position added to queries/keys."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ffn = _FeedForward(dim, ffn_dim, dropout)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, src: Tensor, pos: Tensor) -> Tensor:
        qk = src + pos
        src = self.norm1(src + self.drop1(self.attn(qk, qk, src, need_weights=False)[0]))
        return self.norm2(src + self.drop2(self.ffn(src)))


class _DecoderLayer(nn.Module):
    """Post-norm decoder layer: query self-attention, cross-attention to the map, FFN."""

    def __init__(self, dim: int, num_heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(dim, num_heads, batch_first=True)
        self.ffn = _FeedForward(dim, ffn_dim, dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop1, self.drop2, self.drop3 = (nn.Dropout(dropout) for _ in range(3))

    def forward(self, tgt: Tensor, memory: Tensor, pos: Tensor) -> tuple[Tensor, Tensor]:
        """Return updated queries ``(B, K, D)`` and cross-attention ``(B, K, N)`` (head mean)."""
        tgt = self.norm1(tgt + self.drop1(self.self_attn(tgt, tgt, tgt, need_weights=False)[0]))
        read, attention = self.cross_attn(tgt, memory + pos, memory, need_weights=True)
        tgt = self.norm2(tgt + self.drop2(read))
        return self.norm3(tgt + self.drop3(self.ffn(tgt))), attention


class QueryHead(nn.Module):
    """Learnable class queries + small transformer decoder (Query2Label / SADCL style).

    Args:
        in_channels: C of the backbone map.
        num_classes: K.
        embed_dim: D of the transformer and of the class features; ``None`` uses C.
        num_heads: attention heads (D must be divisible by it, and by 4 for the encoding).
        num_encoder_layers: self-attention layers over the map tokens before decoding.
        num_decoder_layers: decoder layers.
        ffn_dim: hidden size of the feed-forward blocks; ``None`` uses 4 D.
        dropout: dropout on the residual branches.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        embed_dim: int | None = None,
        num_heads: int = 4,
        num_encoder_layers: int = 1,
        num_decoder_layers: int = 2,
        ffn_dim: int | None = None,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        dim = embed_dim or in_channels
        if dim % num_heads or dim % 4:
            raise InvalidInputError(
                f"embed_dim {dim} must be divisible by num_heads={num_heads} and by 4; "
                "pass embed_dim=... to the query head."
            )
        if num_decoder_layers < 1:
            raise InvalidInputError("The query head needs num_decoder_layers >= 1.")
        ffn_dim = ffn_dim or 4 * dim
        self.feature_dim: int = dim
        self.input_proj = nn.Conv2d(in_channels, dim, kernel_size=1)
        self.queries = nn.Parameter(torch.randn(num_classes, dim) * dim**-0.5)  # (K, D)
        self.encoder = nn.ModuleList(
            _EncoderLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_encoder_layers)
        )
        self.decoder = nn.ModuleList(
            _DecoderLayer(dim, num_heads, ffn_dim, dropout) for _ in range(num_decoder_layers)
        )
        self.classifier = GroupWiseLinear(num_classes, dim)

    def forward(self, x: Tensor) -> ModelOutput:
        """Map ``x`` ``(B, C, H, W)`` to logits ``(B, K)``, features ``(B, K, D)``, attention."""
        b, _, h, w = x.shape
        memory = self.input_proj(x).flatten(2).transpose(1, 2)  # (B, N, D)
        pos = sine_position_encoding(h, w, self.feature_dim, device=x.device)
        pos = pos.to(memory.dtype).unsqueeze(0)  # (1, N, D)
        for layer in self.encoder:
            memory = layer(memory, pos)
        tgt = self.queries.unsqueeze(0).expand(b, -1, -1)  # (B, K, D)
        for layer in self.decoder:
            tgt, attention = layer(tgt, memory, pos)
        logits = self.classifier(tgt)
        return ModelOutput(logits, tgt, attention.reshape(b, -1, h, w))  # attention (B, K, H, W)
