"""The projection MLP that maps class features to the embeddings of the discriminative losses."""

from __future__ import annotations

from torch import Tensor, nn

from mlrkit.errors import InvalidInputError


class ProjectionMLP(nn.Module):
    """``Linear -> ReLU -> ... -> Linear`` applied to the last dimension.

    Shared by every discriminative term (variant A/B, SSCL, PSCL), as SADCL's projection head
    (2048 -> 2048 -> 1024, two layers). No normalisation here: the losses L2-normalise.

    Args:
        in_dim: ``C``, the class-feature dimension.
        out_dim: ``D``, the embedding dimension (default: ``in_dim``).
        hidden_dim: width of the hidden layers (default: ``in_dim``).
        num_layers: number of linear layers (``>= 1``; default 2 as SADCL).

    Shapes:
        ``(..., C) -> (..., D)``, e.g. ``(B, K, C) -> (B, K, D)``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int | None = None,
        hidden_dim: int | None = None,
        num_layers: int = 2,
    ) -> None:
        super().__init__()
        if num_layers < 1:
            raise InvalidInputError(f"ProjectionMLP: num_layers must be >= 1, got {num_layers}")
        out_dim = in_dim if out_dim is None else out_dim
        hidden_dim = in_dim if hidden_dim is None else hidden_dim
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
            layers.append(nn.Linear(d_in, d_out))
            if i < num_layers - 1:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)
        self.in_dim = in_dim
        self.out_dim = out_dim

    def forward(self, features: Tensor) -> Tensor:
        """Project ``(..., C)`` features to ``(..., D)`` embeddings."""
        return self.net(features)
