"""One forward (and backward) over every member of a pool, or over a mini-batch of them
(docs/naturalfinger.md, docs/cae.md, docs/metafinger.md, docs/metav.md: NaturalFinger, CAE, MetaFinger,
MetaV).

Members that share an architecture (same module class, parameter/buffer names, shapes and dtypes, layer
settings and device; eval mode; no hooks) run as **one** batched call; the others run one by one.
Two batched strategies exist, tried in this order by ``method="auto"``:

* ``grouped``: the members are fused into one module working on channel-stacked tensors ``(N, P·C, H, W)``
  (convolutions become grouped convolutions with ``groups = P·groups``, batch norm runs over the ``P·C``
  concatenated channels, linear layers become one batched matmul). Used when every leaf layer is one of a
  known set of per-channel layers and every container's ``forward`` is one known to keep channels apart
  (``nn.Sequential`` and the blocks of :mod:`modelprint.models.archs`, DenseNet's concatenation excepted).
  It makes the fewest, largest kernel calls and keeps the default memory layout, so results match the loop
  to float rounding.
* ``vmap``: ``torch.func.stack_module_state`` + ``functional_call`` + ``torch.vmap`` over the stacked
  parameters *and* buffers (eval-mode batch norm reads its running statistics), for any other module.

Every batched group is checked once, at construction, against the loop on a small probe batch; a group
that fails (unsupported layer, vmap error, mismatch) falls back to the next strategy, then to the loop.
Each member's own input normalisation (``mean``/``std``) is applied inside the batched call.

The ensemble is a **snapshot**: batched groups hold detached copies of the weights taken in ``__init__``
and do not see later changes to a member (members run in the loop read detached views of their live
weights) — build a new ensemble after changing a member. Gradients flow to the input ``x`` only; members'
parameters get no gradient and are never modified.

Speed (measured by ``bench/pool_ensemble.py``): on a quiet two-core CPU the per-member loop beats both
batched paths for cnn-m pools, and the grouped path wins only narrowly for cnn-s on 8x8. On a CPU each
member's convolution is already one large GEMM and the batched activations are P times larger, so batching
loses; it pays off where kernel-launch overhead dominates (GPUs, or CPUs oversubscribed by other jobs). Hence
``batched=None`` (the default) batches on CUDA devices only, which also keeps CPU results bit-identical to the
per-member forward."""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Sequence
from typing import Literal

import torch
from torch import nn
from torch.func import functional_call, stack_module_state

from modelprint.models.archs import BasicBlock, InvertedResidual, _Net, _PreActBlock
from modelprint.models.base import TorchClassifier

Method = Literal["auto", "grouped", "vmap"]
Strategy = Literal["loop", "vmap", "grouped"]

NO_GRAD_CHUNK = 256
"""Samples per batched call when no gradient is needed (batched calls hold P times the activations)."""

_PROBE_SAMPLES = 2
_PROBE_RTOL = 1e-4

# Parameter-free layers that act on every channel (or every feature) on its own: they work unchanged on
# channel-stacked tensors. Anything else without a grouped counterpart below sends a group to vmap.
_CHANNELWISE: tuple[type[nn.Module], ...] = (
    nn.Identity,
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Sigmoid,
    nn.Tanh,
    nn.Hardswish,
    nn.Hardsigmoid,
    nn.Dropout,
    nn.Dropout2d,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
)

# Container forwards that only chain layers, add same-shaped tensors and flatten from dim 1: they keep the
# members' channels apart. Unknown containers (custom forward code) go to vmap.
_STACKABLE_FORWARDS: frozenset[Callable[..., object]] = frozenset(
    {nn.Sequential.forward, _Net.forward, BasicBlock.forward, _PreActBlock.forward, InvertedResidual.forward}
)


class _Unsupported(Exception):
    """A group cannot use the requested batched strategy."""


def _signature(model: TorchClassifier) -> Hashable:
    """What must agree for members to be batched together: class, tensors, layer settings, device, mode."""
    module = model.module
    tensors = tuple(
        (kind, name, tuple(t.shape), t.dtype)
        for kind, items in (("param", module.named_parameters()), ("buffer", module.named_buffers()))
        for name, t in items
    )
    layers = tuple(
        (
            name,
            type(m),
            m.extra_repr(),
            m.training,
            tuple(
                sorted(
                    (k, repr(v))
                    for k, v in vars(m).items()
                    if not k.startswith("_")
                    and k != "training"
                    and isinstance(v, bool | int | float | str | tuple)
                )
            ),
        )
        for name, m in module.named_modules()
    )
    return (type(module), tensors, layers, str(model.device), model.input_shape, model.num_classes)


def _batchable(module: nn.Module) -> bool:
    """Eval mode everywhere and no module hooks (hooks may differ per member and are not stacked)."""
    return not any(
        sub.training or sub._forward_hooks or sub._forward_pre_hooks or sub._backward_hooks
        for sub in module.modules()
    )


def _stats(models: Sequence[TorchClassifier], shape: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Members' normalisation constants stacked as ``shape`` (float32, like ``TorchClassifier``)."""
    device = models[0].device
    mean = torch.tensor([m.mean for m in models], device=device).view(*shape)
    std = torch.tensor([m.std for m in models], device=device).view(*shape)
    return mean, std


class _Loop:
    """Reference strategy: one member after the other, on detached weights (no parameter gradients)."""

    strategy: Strategy = "loop"

    def __init__(self, models: Sequence[TorchClassifier]) -> None:
        self.members = [
            (
                m.module,
                {n: t.detach() for n, t in (*m.module.named_parameters(), *m.module.named_buffers())},
                *_stats([m], (1, -1, 1, 1)),
                m.device,
            )
            for m in models
        ]

    def __call__(self, x: torch.Tensor, pick: Sequence[int] | None = None) -> torch.Tensor:
        """(P, N, K) logits of every member, or of the members at positions ``pick`` in that order."""
        members = self.members if pick is None else [self.members[j] for j in pick]
        outs = []
        for module, state, mean, std, device in members:
            outs.append(functional_call(module, state, ((x.to(device) - mean) / std,)))
        return torch.stack([o.to(outs[0].device) for o in outs])


class _Vmap:
    """``vmap`` of ``functional_call`` over stacked parameters, buffers and normalisation constants."""

    strategy: Strategy = "vmap"

    def __init__(self, models: Sequence[TorchClassifier]) -> None:
        modules = [m.module for m in models]
        params, buffers = stack_module_state(modules)  # type: ignore[arg-type]
        self.params = {n: t.detach() for n, t in params.items()}
        self.buffers = {n: t.detach() for n, t in buffers.items()}
        self.mean, self.std = _stats(models, (len(models), 1, -1, 1, 1))
        self.device = models[0].device
        base = copy.deepcopy(modules[0]).to("meta")  # only the structure: every tensor is passed in

        def one(
            params: dict[str, torch.Tensor],
            buffers: dict[str, torch.Tensor],
            mean: torch.Tensor,
            std: torch.Tensor,
            x: torch.Tensor,
        ) -> torch.Tensor:
            return functional_call(base, (params, buffers), ((x - mean) / std,))

        self.fn: Callable[..., torch.Tensor] = torch.vmap(one, in_dims=(0, 0, 0, 0, None))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.params, self.buffers, self.mean, self.std, x.to(self.device))


class _GroupedLinear(nn.Module):
    """P linear layers on a ``(..., P·D)`` input, as one batched matmul; output ``(..., P·K)``."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None) -> None:
        super().__init__()
        self.register_buffer("weight_t", weight.transpose(1, 2))  # (P, D, K)
        self.register_buffer("bias", None if bias is None else bias.unsqueeze(1))  # (P, 1, K)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p, d, k = self.weight_t.shape
        lead = x.shape[:-1]
        h = x.reshape(-1, p, d).transpose(0, 1)  # (P, M, D)
        out = torch.bmm(h, self.weight_t) if self.bias is None else torch.baddbmm(self.bias, h, self.weight_t)
        return out.transpose(0, 1).reshape(*lead, p * k)


def _frozen(t: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(t.detach(), requires_grad=False)


def _grouped_leaf(leaves: Sequence[nn.Module]) -> nn.Module | None:
    """The channel-stacked counterpart of P identical leaf layers (None: keep the layer as it is)."""
    first, p = leaves[0], len(leaves)
    kind = type(first)
    if kind is nn.Conv2d:
        convs: list[nn.Conv2d] = list(leaves)  # type: ignore[arg-type]
        c = convs[0]
        out = nn.Conv2d(
            c.in_channels * p,
            c.out_channels * p,
            c.kernel_size,  # type: ignore[arg-type]
            stride=c.stride,  # type: ignore[arg-type]
            padding=c.padding,  # type: ignore[arg-type]
            dilation=c.dilation,  # type: ignore[arg-type]
            groups=c.groups * p,
            bias=c.bias is not None,
            padding_mode=c.padding_mode,
            device="meta",
        )
        out.weight = _frozen(torch.cat([m.weight for m in convs]))
        if c.bias is not None:
            out.bias = _frozen(torch.cat([m.bias for m in convs]))  # type: ignore[misc]
        return out
    if kind in (nn.BatchNorm1d, nn.BatchNorm2d):
        bns: list[nn.BatchNorm2d] = list(leaves)  # type: ignore[arg-type]
        b = bns[0]
        out_bn = kind(
            b.num_features * p,
            eps=b.eps,
            momentum=b.momentum,
            affine=b.affine,
            track_running_stats=b.track_running_stats,
            device="meta",
        )
        if b.affine:
            out_bn.weight = _frozen(torch.cat([m.weight for m in bns]))
            out_bn.bias = _frozen(torch.cat([m.bias for m in bns]))
        if b.track_running_stats:
            out_bn.running_mean = torch.cat([m.running_mean for m in bns]).detach()  # type: ignore[misc]
            out_bn.running_var = torch.cat([m.running_var for m in bns]).detach()  # type: ignore[misc]
            out_bn.num_batches_tracked = b.num_batches_tracked.detach().clone()  # type: ignore[misc]
        return out_bn
    if kind is nn.Linear:
        linears: list[nn.Linear] = list(leaves)  # type: ignore[arg-type]
        bias = None if linears[0].bias is None else torch.stack([m.bias for m in linears]).detach()
        return _GroupedLinear(torch.stack([m.weight for m in linears]).detach(), bias)
    if kind is nn.Flatten and first.start_dim == 1 and first.end_dim == -1:  # type: ignore[attr-defined]
        return None
    if kind in _CHANNELWISE:
        return None
    raise _Unsupported(f"no channel-stacked version of {kind.__name__}")


class _Grouped:
    """All members fused into one module on channel-stacked inputs ``(N, P·C, H, W)``."""

    strategy: Strategy = "grouped"

    def __init__(self, models: Sequence[TorchClassifier]) -> None:
        modules = [m.module for m in models]
        fused = copy.deepcopy(modules[0])
        for name, sub in list(fused.named_modules()):
            children = list(sub.children())
            if children:
                known = type(sub).forward in _STACKABLE_FORWARDS
                if isinstance(sub, _Net):
                    known = known and type(sub).embed is _Net.embed
                if not known:
                    raise _Unsupported(f"{type(sub).__name__}.forward may mix channels")
                if (
                    next(sub.parameters(recurse=False), None) is not None
                    or next(sub.buffers(recurse=False), None) is not None
                ):
                    raise _Unsupported(f"{type(sub).__name__} holds tensors of its own")
                continue
            replacement = _grouped_leaf([m.get_submodule(name) for m in modules])
            if replacement is None:
                continue
            if not name:  # the whole model is a single layer
                fused = replacement
                break
            parent, _, attr = name.rpartition(".")
            setattr(fused.get_submodule(parent), attr, replacement)
        self.module = fused.eval().requires_grad_(False)
        self.members = len(models)
        self.mean, self.std = _stats(models, (1, len(models), -1, 1, 1))
        self.device = models[0].device

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device)
        stacked = ((x.unsqueeze(1) - self.mean) / self.std).flatten(1, 2)  # (N, P·C, H, W)
        out = self.module(stacked)  # (N, P·K)
        if out.ndim != 2 or out.shape[1] % self.members:
            raise _Unsupported(f"unexpected channel-stacked output shape {tuple(out.shape)}")
        return out.view(len(x), self.members, -1).transpose(0, 1)


_STRATEGIES: dict[Method, tuple[type[_Grouped] | type[_Vmap], ...]] = {
    "auto": (_Grouped, _Vmap),
    "grouped": (_Grouped,),
    "vmap": (_Vmap,),
}


class PoolEnsemble:
    """``logits(x)`` → (P, N, K): every member's differentiable logits on the same batch ``x`` in [0,1].

    ``batched=None`` (default) batches members on CUDA devices and loops on CPU (see the module docstring
    for the measurement); ``True`` / ``False`` force either path.
    ``method`` picks the batched strategy (see the module docstring); ``groups`` lists the strategy chosen
    for each set of member positions."""

    def __init__(
        self, models: Sequence[TorchClassifier], batched: bool | None = None, *, method: Method = "auto"
    ) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one model")
        classes = {m.num_classes for m in models}
        shapes = {m.input_shape for m in models}
        if len(classes) != 1 or len(shapes) != 1:
            raise ValueError(f"pool members disagree on classes {classes} or input shapes {shapes}")
        if method not in _STRATEGIES:
            raise ValueError(f"unknown method {method!r}; known: {', '.join(_STRATEGIES)}")
        self.models = tuple(models)
        self.num_classes = classes.pop()
        self.input_shape = shapes.pop()
        self._device = self.models[0].device
        if batched is None:
            batched = self._device.type == "cuda"
        self.batched = batched

        buckets: dict[Hashable, list[int]] = {}
        for i, m in enumerate(self.models):
            key = _signature(m) if batched and _batchable(m.module) else ("loop", i)
            buckets.setdefault(key, []).append(i)
        self._runners: list[tuple[tuple[int, ...], _Loop | _Vmap | _Grouped]] = []
        for index in buckets.values():
            members = [self.models[i] for i in index]
            runner: _Loop | _Vmap | _Grouped = _Loop(members)
            if len(members) >= 2:
                runner = self._batched_runner(members, runner, method)
            self._runners.append((tuple(index), runner))
        order = [i for index, _ in self._runners for i in index]
        self._inverse = None if order == list(range(len(order))) else torch.tensor(order).argsort()
        self.groups: tuple[tuple[Strategy, tuple[int, ...]], ...] = tuple(
            (runner.strategy, index) for index, runner in self._runners
        )

    def _batched_runner(
        self, members: Sequence[TorchClassifier], loop: _Loop, method: Method
    ) -> _Loop | _Vmap | _Grouped:
        """The first strategy that builds and matches the loop on a probe batch; else the loop."""
        probe = torch.rand(_PROBE_SAMPLES, *self.input_shape, generator=torch.Generator().manual_seed(0))
        with torch.no_grad():
            expected = loop(probe)
            for kind in _STRATEGIES[method]:
                try:
                    runner = kind(members)
                    got = runner(probe)
                except Exception:  # any failure (unsupported layer, vmap error) means: try the next one
                    continue
                tol = _PROBE_RTOL * (1.0 + float(expected.abs().max()))
                if got.shape == expected.shape and float((got - expected).abs().max()) <= tol:
                    return runner
        return loop

    def __len__(self) -> int:
        return len(self.models)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        parts = [runner(x).to(self._device) for _, runner in self._runners]
        out = parts[0] if len(parts) == 1 else torch.cat(parts)
        return out if self._inverse is None else out[self._inverse.to(out.device)]

    def _some_logits(self, x: torch.Tensor, members: Sequence[int]) -> torch.Tensor:
        """Logits of ``members`` only: looped members run alone, a batched group runs whole (one call)."""
        wanted = set(members)
        found: dict[int, torch.Tensor] = {}
        for index, runner in self._runners:
            pick = [j for j, i in enumerate(index) if i in wanted]
            if not pick:
                continue
            out = runner(x, pick) if isinstance(runner, _Loop) else runner(x)[pick]
            found.update((index[j], o.to(self._device)) for j, o in zip(pick, out, strict=True))
        return torch.stack([found[i] for i in members])

    def logits(self, x: torch.Tensor, members: Sequence[int] | None = None) -> torch.Tensor:
        """(P, N, K) logits, differentiable with respect to ``x`` (members in eval mode). With ``members``
        (positions, e.g. a mini-batch of the pool): (len(members), N, K) in that order, and members that
        run one by one (the CPU default) are the only ones computed."""
        self.models[0].check_inputs(x)
        if members is not None:
            members = [int(i) for i in members]
            if not members or min(members) < 0 or max(members) >= len(self.models):
                raise ValueError(f"members must be positions in 0..{len(self.models) - 1}, got {members}")

        def run(chunk: torch.Tensor) -> torch.Tensor:
            return self._logits(chunk) if members is None else self._some_logits(chunk, members)

        if (torch.is_grad_enabled() and x.requires_grad) or len(x) <= NO_GRAD_CHUNK:
            return run(x)
        return torch.cat([run(x[i : i + NO_GRAD_CHUNK]) for i in range(0, len(x), NO_GRAD_CHUNK)], 1)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(P, N, K) softmax outputs."""
        return self.logits(x).softmax(dim=-1)

    @torch.no_grad()
    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """(P, N) top-1 labels."""
        return self.logits(x).argmax(dim=-1)
