"""The book's figures, drawn at build time by nnref itself (matplotlib, Agg).

One function per kind, each ``(spec, path) -> caption``: what is plotted always comes from the
reference's own forward and backward (or update rule); torch's built-in is overlaid dashed where
there is one, so a reader sees the two coincide.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from nnref import registry  # noqa: E402
from nnref.experiment import surfaces  # noqa: E402
from nnref.verify import cases  # noqa: E402

# Sizes for constructor arguments that have no default (a layer's width): the figure only needs
# a small valid layer, whatever the component.
_SIZES = {"num_features": 2, "in_features": 64, "out_features": 64}
REF_STYLE = {"color": "C0", "lw": 2.2}
TORCH_STYLE = {"color": "C3", "lw": 1.4, "ls": "--"}


def _build(target, spec: registry.Spec, **extra):
    params = inspect.signature(target).parameters
    kwargs = {k: v for k, v in _SIZES.items()
              if k in params and params[k].default is inspect.Parameter.empty}
    return target(**{**kwargs, **spec.defaults, **extra})


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _curves(module, x: torch.Tensor, softmax: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """f and f' of the first feature, by the module's own forward and autograd backward."""
    other = torch.zeros_like(x) if softmax else x
    inp = torch.stack([x, other], dim=1).requires_grad_(True)
    out = module(inp)
    (grad,) = torch.autograd.grad(out[:, 0].sum(), inp)
    return out.detach(), grad[:, 0].detach()


def activation(spec: registry.Spec, path: Path) -> str:
    x = torch.linspace(-4, 4, 801, dtype=torch.float64)
    softmax = spec.family == "softmax"
    extra = {"dim": 1} if softmax else {}
    fig, (ax_f, ax_d) = plt.subplots(1, 2, figsize=(9, 3.4))
    ref = _build(spec.reference, spec, **extra).double().eval()
    out, grad = _curves(ref, x, softmax)
    ax_f.plot(x, out[:, 0], label="nnref", **REF_STYLE)
    ax_d.plot(x, grad, label="nnref", **REF_STYLE)
    if not softmax and not torch.equal(out[:, 0], out[:, 1]):  # BReLU's odd features
        ax_f.plot(x, out[:, 1], color="C2", lw=1.6, label="nnref, odd feature")
    if spec.builtin is not None:
        theirs = _build(spec.builtin, spec, **extra).double().eval()
        t_out, t_grad = _curves(theirs, x, softmax)
        ax_f.plot(x, t_out[:, 0], label="torch", **TORCH_STYLE)
        ax_d.plot(x, t_grad, label="torch", **TORCH_STYLE)
    ax_f.set_title("f(x, 0), first output" if softmax else "f(x)")
    ax_d.set_title("∂f₀/∂x at (x, 0)" if softmax else "f′(x)")
    for ax in (ax_f, ax_d):
        ax.axhline(0, color="0.8", lw=0.8)
        ax.axvline(0, color="0.8", lw=0.8)
        ax.set_xlabel("x")
        ax.legend(loc="best", fontsize=8)
    _save(fig, path)
    how = "softmax over (x, 0)" if softmax else "applied to x"
    return (f"{spec.name} {how}, in eval mode, float64: value (left) and derivative (right) "
            "from nnref's own forward and backward" +
            (", torch's dashed." if spec.builtin is not None else "; torch has no built-in."))


def _loss_inputs(c, x: torch.Tensor):
    """``(x-axis label, [(curve label, input, target)])`` for one prediction value ``x``."""
    one = x.reshape(1)
    if c.target == "index":
        row = (torch.stack([x, torch.log1p(-torch.exp(x))]) if c.input == "log_probability"
               else torch.stack([x, torch.zeros_like(x)]))
        return [("target class 0", row.unsqueeze(0), torch.tensor([0]))]
    if c.target == "binary":
        return [(f"target {t}", one, torch.full_like(one, t)) for t in (1.0, 0.0)]
    return [("target 0", one, torch.zeros_like(one))]


def loss(spec: registry.Spec, path: Path) -> str:
    c = cases.of(spec)
    lo, hi, xlabel = {
        "probability": (1e-3, 1 - 1e-3, "predicted probability p"),
        "log_probability": (-6.0, -1e-3, "log-probability x of class 0 (class 1 gets the rest)"),
    }.get(c.input, (-4.0, 4.0, "prediction x" if c.target == "real" else "logit x"))
    xs = torch.linspace(lo, hi, 401, dtype=torch.float64)
    fig, (ax_l, ax_g) = plt.subplots(1, 2, figsize=(9, 3.4))
    impls = [("nnref", spec.reference, REF_STYLE)]
    if spec.builtin is not None:
        impls.append(("torch", spec.builtin, TORCH_STYLE))
    for who, target, style in impls:
        fn = _build(target, spec)
        for k, (label, _, _) in enumerate(_loss_inputs(c, xs[0])):
            values, grads = [], []
            for x in xs:
                x = x.clone().requires_grad_(True)
                _, inp, tgt = _loss_inputs(c, x)[k]
                value = fn(inp, tgt.to(inp.dtype) if tgt.is_floating_point() else tgt)
                (g,) = torch.autograd.grad(value, x)
                values.append(value.item())
                grads.append(float(g))
            kw = dict(style, color=style["color"] if k == 0 else ("C1" if who == "nnref"
                                                                   else "C4"))
            ax_l.plot(xs, values, label=f"{who}, {label}", **kw)
            ax_g.plot(xs, grads, label=f"{who}, {label}", **kw)
    ax_l.set_title("loss")
    ax_g.set_title("gradient d loss / d x")
    for ax in (ax_l, ax_g):
        ax.axhline(0, color="0.8", lw=0.8)
        ax.set_xlabel(xlabel)
        ax.legend(loc="best", fontsize=8)
    _save(fig, path)
    return (f"{spec.name} of one prediction: the loss (left) and its gradient (right) from "
            "nnref's own forward and backward" +
            (", torch's dashed." if spec.builtin is not None else "; torch has no built-in."))


def init(spec: registry.Spec, path: Path) -> str:
    c = cases.of(spec)
    kw = dict(c.kwargs[0])
    fan_out, fan_in = 256, 1024
    weight = torch.empty(fan_out, fan_in, dtype=torch.float64)
    if "generator" in inspect.signature(spec.reference).parameters:  # constants draw nothing
        kw["generator"] = torch.Generator().manual_seed(0)
    spec.reference(weight, **{**spec.defaults, **kw})
    kw.pop("generator", None)
    spread = c.spread(fan_in, fan_out, **kw)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    w = weight.flatten()
    if c.law == "constant":
        ax.hist(w, bins=21, range=(spread - 1, spread + 1), color="C0", label="drawn weights")
        ax.axvline(spread, **TORCH_STYLE, label=f"target: every weight = {spread:g}")
    else:
        edge = 4 * spread if c.law == "normal" else 1.25 * spread
        t = torch.linspace(-edge, edge, 400, dtype=torch.float64)
        if c.law == "normal":
            density = torch.exp(-0.5 * (t / spread) ** 2) / (spread * math.sqrt(2 * math.pi))
            target = f"target N(0, {spread:.4g}²)"
        else:
            density = ((t.abs() <= spread).double()) / (2 * spread)
            target = f"target U(±{spread:.4g})"
        ax.hist(w, bins=80, range=(-edge, edge), density=True, color="C0", alpha=0.75,
                label="drawn weights")
        ax.plot(t, density, **TORCH_STYLE, label=target)
    ax.set_xlabel("weight value")
    ax.legend(loc="upper right", fontsize=8)
    _save(fig, path)
    args = ", ".join(f"{k}={v!r}" for k, v in kw.items())
    return (f"A {fan_out}×{fan_in} weight (fan_in {fan_in}, fan_out {fan_out}) drawn by "
            f"{spec.name}({args}) with a seeded generator: histogram against the target "
            "density of the lecture notes' formula.")


_OPTIM_SURFACE = "rosenbrock"
_OPTIM_START = (-1.5, 2.0)
_OPTIM_STEPS = 500
_OPTIM_LRS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1)


def optim(spec: registry.Spec, path: Path) -> str:
    surface = surfaces.SURFACES[_OPTIM_SURFACE]

    def run(impl: str, lr: float) -> torch.Tensor:
        return surfaces.trajectory(surface.fn, registry.get("optim", spec.name, impl=impl, lr=lr),
                                   start=_OPTIM_START, steps=_OPTIM_STEPS)

    def final(p: torch.Tensor) -> float:
        value = float(surface.fn(p[-1, 0], p[-1, 1]))
        return value if math.isfinite(value) and p.isfinite().all() else math.inf

    # the learning rate of the grid that ends lowest: each optimizer shown at its best here
    lr = min(_OPTIM_LRS, key=lambda r: final(run("reference", r)))
    path_ref = run("reference", lr)
    x0, x1, y0, y1 = surface.window
    gx, gy = torch.meshgrid(torch.linspace(x0, x1, 300, dtype=torch.float64),
                            torch.linspace(y0, y1, 300, dtype=torch.float64), indexing="xy")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.contour(gx, gy, torch.log1p(surface.fn(gx, gy)), levels=25, cmap="Greys", linewidths=0.6)
    ax.plot(path_ref[:, 0], path_ref[:, 1], label=f"nnref, lr={lr:g}", **REF_STYLE)
    if spec.builtin is not None:
        path_t = run("torch", lr)
        ax.plot(path_t[:, 0], path_t[:, 1], label="torch", **TORCH_STYLE)
    ax.plot(*_OPTIM_START, "o", color="k", label="start")
    for mx, my in surface.minima:
        ax.plot(mx, my, "*", color="gold", markersize=14, markeredgecolor="k", label="minimum")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)
    return (f"{_OPTIM_STEPS} steps of {spec.name} on the {_OPTIM_SURFACE} surface from "
            f"{_OPTIM_START}, at the learning rate of {list(_OPTIM_LRS)} that ends lowest "
            f"(f = {final(path_ref):.3g})" +
            (", torch's steps dashed." if spec.builtin is not None else "."))


def _dropout_input(module, name: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if hasattr(module, "in_features"):
        return torch.randn(4096, module.in_features, generator=g) + 1.0
    shape = {"1d": (64, 16, 64), "2d": (64, 16, 8, 8)}.get(name[-2:], (4096, 16))
    return torch.randn(*shape, generator=g) + 1.0


def dropout(spec: registry.Spec, path: Path) -> str:
    torch.manual_seed(0)
    module = _build(spec.reference, spec)
    x = _dropout_input(module, spec.name)
    with torch.no_grad():
        train = module.train()(x)
        evaluated = module.eval()(x)
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    lo = float(torch.stack([x.min(), train.min(), evaluated.min()]).min())
    hi = float(torch.stack([x.max(), train.max(), evaluated.max()]).max())
    for values, label, color in ((x, "input", "0.55"), (train, "training", "C0"),
                                 (evaluated, "eval", "C3")):
        ax.hist(values.flatten(), bins=120, range=(lo, hi), density=True, histtype="step",
                lw=1.6, color=color,
                label=f"{label}: mean {float(values.mean()):.3f}, std {float(values.std()):.3f}")
    ax.set_yscale("log")
    ax.set_xlabel("value")
    ax.legend(loc="upper right", fontsize=8)
    _save(fig, path)
    return (f"{spec.name} with its defaults on input N(1, 1) of shape {tuple(x.shape)}: "
            "distribution of the input and of the output in training and in eval mode "
            "(log density).")


def norm(spec: registry.Spec, path: Path) -> str:
    g = torch.Generator().manual_seed(0)
    means, stds = torch.tensor([-2.0, 0.0, 3.0]), torch.tensor([0.5, 1.0, 2.0])
    module = spec.reference(len(means), **spec.defaults)
    shape = (512, 3) if spec.name.endswith("1d") else (32, 3, 4, 4)
    view = (1, 3) + (1,) * (len(shape) - 2)
    x = torch.randn(*shape, generator=g) * stds.view(view) + means.view(view)
    with torch.no_grad():
        y = module.train()(x)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    for ax, values, title in ((axes[0], x, "before (input)"), (axes[1], y, "after, training")):
        for c in range(3):
            ch = values.select(1, c).flatten()
            ax.hist(ch, bins=60, density=True, histtype="step", lw=1.6, color=f"C{c}",
                    label=f"channel {c}: mean {float(ch.mean()):.2f}, std {float(ch.std()):.2f}")
        ax.set_title(title)
        ax.set_xlabel("value")
        ax.legend(loc="upper right", fontsize=7)
    _save(fig, path)
    return (f"{spec.name} on input of shape {shape} whose three channels have means "
            f"{means.tolist()} and standard deviations {stds.tolist()}: each channel comes out "
            "with mean 0 and standard deviation 1 (γ = 1, β = 0 at initialisation).")


def recurrent(spec: registry.Spec, path: Path) -> str:
    """|dL/dh_t| at every step of a 100-step sequence, L the sum of the last state: the gradient
    through time from the reference's own backward (the cell stepped by hand to keep each h_t);
    the plain RNN at three spectral radii of W_hh, where it vanishes, holds or explodes."""
    from nnref import recurrent as R

    cells = {"rnn": R.RNNCell, "rnn_relu": R.RNNCell, "lstm": R.LSTMCell, "gru": R.GRUCell}
    name = spec.name.removesuffix("_cell")
    cls = cells.get(name, R.RNNCell)
    kw = {"nonlinearity": "relu"} if name == "rnn_relu" else {}
    fig, ax = plt.subplots(figsize=(7, 3.4))
    for radius in ((0.5, 1.0, 1.5) if cls is R.RNNCell else (None,)):
        torch.manual_seed(0)
        cell = cls(8, 32, **kw)
        if radius is not None:
            with torch.no_grad():
                w = cell.weight_hh
                w.mul_(radius / torch.linalg.eigvals(w).abs().max())
        x, state, hs = torch.randn(100, 4, 8), None, []
        for t in range(100):
            state = cell(x[t], state)
            h = state[0] if isinstance(state, tuple) else state
            h.retain_grad()
            hs.append(h)
        hs[-1].sum().backward()
        ax.semilogy([float(h.grad.norm()) for h in hs],
                    label=f"W_hh scaled to spectral radius {radius}" if radius else spec.name)
    ax.set_xlabel("step t")
    ax.set_ylabel("|∂L/∂h_t|")
    ax.legend(fontsize=7)
    _save(fig, path)
    return (f"{spec.name} ({cls.__name__} stepped 100 times on random input): the norm of the "
            "gradient of the last state's sum at every earlier state h_t, from the reference's "
            "own backward.")


DRAW = {"activation": activation, "loss": loss, "init": init, "optim": optim,
        "dropout": dropout, "norm": norm, "recurrent": recurrent}
