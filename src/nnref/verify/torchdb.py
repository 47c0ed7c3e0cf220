"""Verification on torch's own sample databases: the inputs torch's developers test torch with.

``torch.testing._internal`` holds three databases: ``op_db`` (an ``OpInfo`` per function with
its sample inputs and error inputs), ``module_db`` (a ``ModuleInfo`` per ``nn.Module`` with
constructor arguments and forward inputs) and ``optim_db`` (an ``OptimizerInfo`` per optimizer
with its keyword configurations and invalid ones). Every registry component with a torch
built-in is matched to its entries here and run against the built-in, sample by sample:

- ops (the functional forms of activations, losses, batch norm): forward, gradients of every
  differentiable input, second-order gradients (float64), the in-place form, ``vmap`` of the
  forward and of the gradient, non-contiguous inputs, and every error input;
- modules: forward and gradients (inputs and parameters) in train and eval mode, buffers after
  the forward, channels-last, ``state_dict`` both ways, ``repr``, the module error inputs;
- optimizers: each configuration for 50 steps in lockstep, bit-identical, single-tensor and
  ``foreach``; the state dict moved each way mid-run; an LR scheduler; a closure; a parameter
  without gradient; the invalid configurations. The options nnref does not implement are in
  :data:`UNCLAIMED` and must be refused with an error naming them.

The databases are an internal torch API. If a torch release moves them, :func:`database`
raises :class:`Unavailable` with the one reason, and the tests skip with it.

Where nnref deliberately differs from torch, the difference is a row of the "Deviations from
torch" table in ``deviations.md`` beside this file, which the book shows as its page
(:func:`deviations`); a finding passes only when a row covers it.
"""

from __future__ import annotations

import functools
import inspect
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import torch

from nnref import activations, losses, normalization, registry
from nnref._tensor import LOW_PRECISION
from nnref.optim._common import UNCLAIMED
from nnref.verify import Row, half_accurate, saved_in

# Samples per (entry, dtype) in a capped run: torch's generators put the plain cases first and
# the edge cases (zero-size, broadcasting, extreme hyper-parameters) after, so the first 8 cover
# each entry's shapes and options; ``cap=None`` runs every sample.
DEFAULT_CAP = 8
OPTIM_STEPS = 50

# Functional name where it differs from the registry name; the form lives in the kind's package.
FUNCTIONAL_NAMES = {
    "mse": "mse_loss", "mae": "l1_loss", "huber": "huber_loss", "bce": "binary_cross_entropy",
    "bce_with_logits": "binary_cross_entropy_with_logits", "nll": "nll_loss",
    "batch_norm1d": "batch_norm", "batch_norm2d": "batch_norm",
}
FUNCTIONAL_PACKAGES = {"activation": activations, "loss": losses, "norm": normalization}



class Unavailable(RuntimeError):
    """torch's internal test databases cannot be used with this torch build."""


@functools.cache
def database() -> SimpleNamespace:
    """The three databases and the record types nnref reads from them."""
    try:
        from torch.testing._internal.common_methods_invocations import op_db
        from torch.testing._internal.common_modules import module_db
        from torch.testing._internal.common_optimizers import OptimizerErrorEnum, optim_db
        from torch.testing._utils import wrapper_set_seed
    except Exception as exc:  # any failure means the internal layout is not the one read here
        raise Unavailable(
            f"torch {torch.__version__}: torch.testing._internal is not usable "
            f"({type(exc).__name__}: {exc}); install expecttest, or this torch moved its "
            "test databases") from exc
    return SimpleNamespace(op_db=op_db, module_db=module_db, optim_db=optim_db,
                           construction=OptimizerErrorEnum.CONSTRUCTION_ERROR,
                           seeded=wrapper_set_seed)


# ---------------------------------------------------------------------------------------------
# The allow-list: the "Deviations from torch" table of deviations.md (a page of the book)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Deviation:
    component: str  # registry name
    case: str  # pattern over a finding's key "<check>: <what> -> <outcome>"; "*" is a wildcard
    reason: str


def _deviations_text() -> str:
    # the table is a page of the book too; it ships with the package beside this file
    return (Path(__file__).resolve().parent / "deviations.md").read_text(encoding="utf-8")


def parse_deviations(markdown: str) -> list[Deviation]:
    """Rows of the table under the heading "Deviations from torch" in ``markdown``.

    The table's columns are ``component | case | nnref | torch | reason``; ``case`` may hold
    several backquoted patterns.
    """
    section = re.search(r"^#+ Deviations from torch\s*$(.*?)(?=^#+ |\Z)", markdown,
                        re.MULTILINE | re.DOTALL)
    if section is None:
        return []
    rows = []
    for line in section.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 5 or not line.lstrip().startswith("|") or set(cells[0]) <= {"-", ":"}:
            continue
        if cells[0].lower() == "component":
            continue
        for component in re.findall(r"`([^`]+)`", cells[0]) or [cells[0]]:
            for case in re.findall(r"`([^`]+)`", cells[1]) or [cells[1]]:
                rows.append(Deviation(component, case, cells[-1]))
    return rows


@functools.cache
def deviations() -> tuple[Deviation, ...]:
    return tuple(parse_deviations(_deviations_text()))


def covered(component: str, key: str, table: Iterable[Deviation] | None = None) -> bool:
    """Whether a deviation row of ``table`` (default: deviations.md's) covers this finding."""
    rows = deviations() if table is None else table
    return any(_wildcard(r.component, component) and _wildcard(r.case, key) for r in rows)


def _wildcard(pattern: str, text: str) -> bool:
    """``*`` matches any run of characters; everything else (brackets included) is literal."""
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text) is not None


# ---------------------------------------------------------------------------------------------
# Cases and findings
# ---------------------------------------------------------------------------------------------
@dataclass
class Finding:
    """One difference from torch: ``key`` is ``"<check>: <what>"``, stable across runs."""

    key: str
    detail: str


@dataclass
class Case:
    """One database entry at one dtype for one component; ``run`` returns its findings."""

    db: str  # "op" | "module" | "optim"
    kind: str  # the registry kind
    component: str
    entry: str
    dtype: torch.dtype
    run: Callable[[str, int | None], list[Finding]]

    @property
    def id(self) -> str:
        return f"{self.db}-{self.component}-{self.entry}-{str(self.dtype)[6:]}"


def _low_precision(dtypes) -> tuple[torch.dtype, ...]:
    return tuple(d for d in LOW_PRECISION if d in dtypes)


def _op_entries(spec: registry.Spec):
    package = FUNCTIONAL_PACKAGES.get(spec.kind)
    if package is None or spec.builtin is None:
        return None, []
    fname = FUNCTIONAL_NAMES.get(spec.name, spec.name)
    ref = getattr(package, fname, None)
    if ref is None:
        return None, []
    db = database()
    ops = [o for o in db.op_db if o.name in (f"nn.functional.{fname}", fname)]
    return ref, ops


def _module_entries(spec: registry.Spec):
    if spec.builtin is None or not isinstance(spec.builtin, type):
        return []
    return [m for m in database().module_db if m.module_cls is spec.builtin]


def _optim_entries(spec: registry.Spec):
    if spec.builtin is None:
        return []
    return [o for o in database().optim_db if o.optim_cls is spec.builtin]


def cases(kinds: Iterable[str] | None = None, names: Iterable[str] | None = None) -> list[Case]:
    """Every database case of the registered components, one per (entry, dtype).

    A database entry reached from several registry names (``sgd``, ``momentum`` and
    ``nesterov`` are all ``torch.optim.SGD``; ``batch_norm1d`` and ``batch_norm2d`` share
    ``batch_norm``) runs once, under the first name.
    """
    wanted = set(names) if names else None
    out: list[Case] = []
    seen: set = set()
    for kind in kinds or registry.KINDS:
        for spec in registry.KINDS[kind].values():
            if wanted is not None and spec.name not in wanted:
                continue
            ref, ops = _op_entries(spec)
            for op in ops:
                if (ref, id(op)) in seen:
                    continue
                seen.add((ref, id(op)))
                entry = op.name.removeprefix("nn.functional.") + (
                    f".{op.variant_test_name}" if op.variant_test_name else "")
                for dtype in (torch.float32, torch.float64,
                              *_low_precision(op.supported_dtypes("cpu"))):
                    out.append(Case("op", spec.kind, spec.name, entry, dtype,
                                    functools.partial(_run_op, spec.name, ref, op, dtype)))
            for info in _module_entries(spec):
                if (spec.reference, id(info)) in seen:
                    continue
                seen.add((spec.reference, id(info)))
                for dtype in info.dtypes:
                    out.append(Case("module", spec.kind, spec.name, info.module_cls.__name__, dtype,
                                    functools.partial(_run_module, spec.reference, info,
                                                      dtype)))
            for info in _optim_entries(spec):
                if (spec.reference, id(info)) in seen:
                    continue
                seen.add((spec.reference, id(info)))
                for dtype in (torch.float32, torch.float64):
                    out.append(Case("optim", spec.kind, spec.name, info.optim_cls.__name__, dtype,
                                    functools.partial(_run_optim, spec.reference, info,
                                                      dtype)))
    return out


# ---------------------------------------------------------------------------------------------
# Comparison helpers
# ---------------------------------------------------------------------------------------------
def _differs(actual, expected) -> str:
    """Empty when ``actual`` equals ``expected`` within torch's default tolerance for the dtype
    (NaN equal to NaN); otherwise the first line of the mismatch."""
    try:
        torch.testing.assert_close(actual, expected, equal_nan=True, check_device=True)
    except AssertionError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        return "; ".join(lines[:3])[:300]
    return ""


def _exact_differs(actual: torch.Tensor, expected: torch.Tensor) -> str:
    if actual.shape != expected.shape or actual.dtype != expected.dtype:
        return f"{actual.dtype}{tuple(actual.shape)} vs {expected.dtype}{tuple(expected.shape)}"
    same = (actual == expected) | (actual.isnan() & expected.isnan())
    if bool(same.all()):
        return ""
    return f"max |diff| {float((actual - expected).abs().nan_to_num(float('inf')).max()):.3g}"


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in torch.utils._pytree.tree_leaves(tree) if isinstance(t, torch.Tensor)]


def _clone(tree):
    """Fresh leaves with the same values and ``requires_grad``: each side gets its own."""
    def one(t):
        if not isinstance(t, torch.Tensor):
            return t
        c = t.detach().clone()
        return c.requires_grad_(t.requires_grad)
    return torch.utils._pytree.tree_map(one, tree)


def _attempt(fn: Callable[[], object]) -> tuple[object, BaseException | None]:
    """``(fn(), None)``, or ``(None, the exception)``: the caller compares it with torch's."""
    try:
        return fn(), None
    except Exception as exc:
        return None, exc


def _raises(fn: Callable[[], object]) -> BaseException | None:
    return _attempt(fn)[1]


def _collector() -> tuple[list[Finding], Callable[..., None]]:
    """A findings list and ``note(check, what, outcome, detail)`` appending to it."""
    found: list[Finding] = []

    def note(check: str, what: str, outcome: str, detail: str = "") -> None:
        found.append(Finding(f"{check}: {what} -> {outcome}", detail or outcome))
    return found, note


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


def _grad_outputs(outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    # Multiples of 1/8 below 8 in size are exact in every float dtype, so a float16 run and
    # its float64 check weigh the outputs alike.
    gen = torch.Generator().manual_seed(0)
    return [(torch.randn(o.shape, generator=gen, dtype=torch.float64) * 8).round().div(8).to(o)
            for o in outputs]


def _grads(outputs, inputs, create_graph=False):
    outs = [o for o in outputs if o.requires_grad]
    if not outs:
        return [torch.zeros_like(i) for i in inputs]
    got = torch.autograd.grad(outs, inputs, _grad_outputs(outs), allow_unused=True,
                              create_graph=create_graph)
    return [torch.zeros_like(i) if g is None else g for g, i in zip(got, inputs, strict=True)]


def _describe(sample) -> str:
    """A short, stable description of a sample: shapes, dtypes and scalar options."""
    def one(v):
        if isinstance(v, torch.Tensor):
            return f"{str(v.dtype)[6:]}{list(v.shape)}"
        if isinstance(v, (list, tuple)):
            return "(" + ",".join(one(x) for x in v) + ")"
        return repr(v)
    parts = [one(sample.input), *(one(a) for a in sample.args)]
    parts += [f"{k}={one(v)}" for k, v in sample.kwargs.items()]
    return " ".join(parts)


def _capped(it: Iterable, cap: int | None) -> Iterator:
    for i, x in enumerate(it):
        if cap is not None and i >= cap:
            return
        yield i, x


# ---------------------------------------------------------------------------------------------
# Ops
# ---------------------------------------------------------------------------------------------
def _call(fn, sample):
    # torch's database calls its random ops (rrelu) under seed 42; the reference gets the same
    # generator state, so a reference that draws like torch gives torch's values.
    return database().seeded(fn, sample.input, *sample.args, **sample.kwargs)


def _as_list(out) -> list[torch.Tensor]:
    return [out] if isinstance(out, torch.Tensor) else _tensors(out)


def _upcast(sample):
    """The sample in float64: the input of the exact result low-precision runs are judged by."""
    return sample.transform(
        lambda t: t.detach().double().requires_grad_(t.requires_grad)
        if isinstance(t, torch.Tensor) and t.is_floating_point() else t)


def _half_differs(got, want, truths, scale: float = 0.0) -> str:
    """Samples of float16/bfloat16: empty when every half tensor of ``got`` meets
    :func:`nnref.verify.half_accurate` against torch's ``want`` and one of ``truths`` (float64
    results of the same shape), and every other (a ``dtype=`` argument's) is within
    :func:`_differs`; otherwise why not."""
    try:
        for i, (g, w) in enumerate(zip(_tensors(got), _tensors(want), strict=True)):
            if g.dtype not in LOW_PRECISION:
                if msg := _differs(g, w):
                    return msg
                continue
            half_accurate(g, w, [_tensors(t)[i] for t in truths], f"output {i}", scale=scale)
    except AssertionError as exc:
        return str(exc)[:300]
    return ""


def _op_procedures(op, dtype):
    """check -> procedure(fn, sample) computing what the check compares."""
    def forward(fn, s):
        return s.output_process_fn_grad(_call(fn, s))

    def grad_inputs(s):
        return [t for t in _tensors((s.input, s.args, s.kwargs)) if t.requires_grad]

    def gradient(fn, s):
        ins = grad_inputs(s)
        return _grads(_as_list(forward(fn, s)), ins) if ins else []

    def second(fn, s):
        ins = grad_inputs(s)
        if not ins:
            return []
        return _grads(_grads(_as_list(forward(fn, s)), ins, create_graph=True), ins)

    def noncontiguous(fn, s):
        return forward(fn, s.noncontiguous())

    def detached(tree):
        return torch.utils._pytree.tree_map(
            lambda t: t.detach() if isinstance(t, torch.Tensor) else t, tree)

    def vmapped(fn, s):
        args, kwargs = detached((s.args, s.kwargs))
        return torch.func.vmap(lambda v: fn(v, *args, **kwargs))(_batched(s.input))

    def vmapped_grad(fn, s):
        args, kwargs = detached((s.args, s.kwargs))
        return torch.func.vmap(torch.func.grad(lambda v: fn(v, *args, **kwargs).sum()))(
            _batched(s.input))

    procedures = {"forward": forward}
    if op.supports_autograd:
        procedures["gradient"] = gradient
        if dtype is torch.float64 and op.supports_gradgrad:
            procedures["second-order gradient"] = second
    procedures["non-contiguous"] = noncontiguous
    procedures["vmap"] = vmapped
    if op.supports_autograd:
        procedures["vmap of the gradient"] = vmapped_grad
    return procedures


def _run_op(component: str, ref, op, dtype: torch.dtype, device: str,
            cap: int | None) -> list[Finding]:
    found, note = _collector()

    procedures = _op_procedures(op, dtype)
    takes_inplace = "inplace" in inspect.signature(ref).parameters
    for _, sample in _capped(op.sample_inputs(device, dtype, requires_grad=True), cap):
        what = _describe(sample)
        for check, procedure in procedures.items():
            if check.startswith("vmap") and not (isinstance(sample.input, torch.Tensor)
                                                 and sample.input.is_floating_point()):
                continue
            with warnings.catch_warnings():
                # functorch's note that a batching rule falls back to a loop is about speed
                warnings.filterwarnings("ignore", message=".*performance drop.*")
                want, expected = _attempt(lambda p=procedure, s=sample: p(op.op, _clone(s)))
                if expected is not None and check != "forward":
                    continue  # torch cannot do this with the sample: nothing to compare with
                try:
                    got = procedure(ref, _clone(sample))
                except Exception as exc:
                    if expected is None:
                        note(check, what, f"nnref raises {type(exc).__name__}", _short(exc))
                    if check == "forward":
                        break
                    continue
            if expected is not None:
                note(check, what, "nnref returns", f"torch raises {_short(expected)}")
                break
            if dtype in LOW_PRECISION:
                truths = _op_truths(op.op, ref, check, procedure, sample, dtype)
                msg = _half_differs(got, want, truths, _cancelled_scale(check, op.op, sample))
            else:
                msg = _differs(got, want)
            if msg:
                note(check, what, "differs", msg)
                if check == "forward":
                    break
        if op.inplace_variant is not None and takes_inplace:
            _check_inplace(ref, op, sample, what, note)
    # Error inputs do not depend on the dtype: they run with float32.
    errors = op.error_inputs(device) if op.error_inputs_func and dtype is torch.float32 else ()
    for err in errors:
        exc = _raises(lambda s=err.sample_input: _call(ref, s))
        what = f"{err.error_type.__name__} /{err.error_regex}/"
        if exc is None:
            note("error input", what, "nnref returns", _describe(err.sample_input))
        elif not isinstance(exc, err.error_type):
            note("error input", what, f"nnref raises {type(exc).__name__}", _short(exc))
    return found


def _cancelled_scale(check: str, op, sample) -> float:
    """The terms a gradient may cancel from: the upstream gradient (ones in the vmap of the
    gradient of a sum) times the output it is formed with."""
    if check not in ("gradient", "vmap of the gradient"):
        return 0.0
    outs = _as_list(_call(op, _upcast(_clone(sample))))

    def largest(ts):
        return max((float(t.detach().abs().nan_to_num(0, 0, 0).max()) for t in ts
                    if t.numel()), default=0.0)
    upstream = 1.0 if check == "vmap of the gradient" else largest(_grad_outputs(outs))
    return upstream * max(1.0, largest(outs))


def _op_truths(op, ref, check: str, procedure, sample, dtype) -> list:
    """What a float16/bfloat16 result of ``check`` is judged by: the procedure in float64 on
    the same values and, for gradients, again with every saved tensor rounded to ``dtype`` and
    a saved output replaced by ``ref``'s own (:func:`nnref.verify.saved_in`), as nnref's half
    backward sees it (torch.func refuses saved-tensor hooks: the vmap of the gradient gets
    the gradient of each batch member, which is what it stacks)."""
    truths = [procedure(op, _upcast(_clone(sample)))]
    if check not in ("gradient", "vmap of the gradient"):
        return truths
    s, s64 = _clone(sample), _upcast(_clone(sample))
    own = []

    def run64(*args, **kwargs):
        out = _call(op, SimpleNamespace(input=args[0], args=args[1:], kwargs=kwargs))
        mine = _call(ref, SimpleNamespace(input=current[0], args=s.args, kwargs=s.kwargs))
        own.extend(zip(_as_list(out), _as_list(mine), strict=True))
        return out

    if check == "gradient":
        current = [s.input]
        with saved_in(dtype, own):
            truths.append(procedure(run64, s64))
        return truths
    args, kwargs = torch.utils._pytree.tree_map(
        lambda t: t.detach() if isinstance(t, torch.Tensor) else t, (s64.args, s64.kwargs))
    members = []
    for v, v_half in zip(_batched(s64.input), _batched(s.input), strict=True):
        current = [v_half]
        v = v.clone().requires_grad_(True)
        with saved_in(dtype, own):
            (g,) = torch.autograd.grad(run64(v, *args, **kwargs).sum(), v)
        members.append(g)
    truths.append(torch.stack(members))
    return truths


def _check_inplace(ref, op, sample, what, note) -> None:
    mine, theirs = _clone(sample), _clone(sample)
    with torch.no_grad():
        if _raises(lambda: op.inplace_variant(theirs.input, *theirs.args, **theirs.kwargs)):
            return  # torch refuses this sample in place (e.g. a broadcasting input)
        exc = _raises(lambda: database().seeded(ref, mine.input, *mine.args,
                                               **{**mine.kwargs, "inplace": True}))
    if exc is not None:
        note("in-place", what, f"nnref raises {type(exc).__name__}", _short(exc))
    elif msg := _differs(mine.input, theirs.input):
        note("in-place", what, "differs", f"input after the call: {msg}")


def _batched(t: torch.Tensor) -> torch.Tensor:
    """Two different members in the same domain: the tensor and its values reversed."""
    flipped = t.detach().flatten().flip(0).reshape(t.shape)
    return torch.stack([t.detach(), flipped])


# ---------------------------------------------------------------------------------------------
# Modules
# ---------------------------------------------------------------------------------------------
def _describe_module_input(mi) -> str:
    c = mi.constructor_input
    shapes = ",".join(f"{list(t.shape)}" for t in _tensors(mi.forward_input.args))
    args = ",".join([*(repr(a) for a in c.args), *(f"{k}={v!r}" for k, v in c.kwargs.items())])
    return f"{mi.desc or 'default'}({args}) on {shapes}"


def _run_module(ref_cls, info, dtype: torch.dtype, device: str,
                cap: int | None) -> list[Finding]:
    found, note = _collector()

    for training in (True, False):
        mode = "train" if training else "eval"
        inputs = info.module_inputs_func(info, device=device, dtype=dtype, requires_grad=True,
                                         training=training)
        for _, mi in _capped(inputs, cap):
            what = f"{_describe_module_input(mi)} {mode}"
            _module_sample(ref_cls, info.module_cls, mi, dtype, device, training, what, note)
    if info.module_error_inputs_func is not None:
        for err in info.module_error_inputs_func(info, device=device, dtype=dtype,
                                                 requires_grad=False, training=True):
            mi = err.module_error_input
            what = f"{err.error_type.__name__} /{err.error_regex}/"

            def attempt(mi=mi):
                c, f = mi.constructor_input, mi.forward_input
                m = ref_cls(*c.args, **c.kwargs).to(device=device, dtype=dtype)
                m(*f.args, **f.kwargs)
            exc = _raises(attempt)
            if exc is None:
                note("error input", what, "nnref returns", _describe_module_input(mi))
            elif not isinstance(exc, err.error_type):
                note("error input", what, f"nnref raises {type(exc).__name__}", _short(exc))
    return found


def _module_sample(ref_cls, torch_cls, mi, dtype, device, training, what, note) -> None:
    c, f = mi.constructor_input, mi.forward_input
    theirs = torch_cls(*c.args, **c.kwargs).to(device=device, dtype=dtype).train(training)
    try:
        mine = ref_cls(*c.args, **c.kwargs).to(device=device, dtype=dtype).train(training)
        mine.load_state_dict(theirs.state_dict())
    except Exception as exc:
        note("construction", what, f"nnref raises {type(exc).__name__}", _short(exc))
        return
    if repr(mine) != repr(theirs):
        note("repr", what, "differs", f"{mine!r} vs {theirs!r}")
    back = torch_cls(*c.args, **c.kwargs).to(device=device, dtype=dtype)
    exc = _raises(lambda: back.load_state_dict(mine.state_dict()))
    if exc is not None:
        note("state_dict", what, "torch cannot load nnref's", _short(exc))
    def exact(fwd: bool):
        """torch's module in float64 on the same values: what float16/bfloat16 are judged by."""
        m = torch_cls(*c.args, **c.kwargs).to(device=device, dtype=torch.float64)
        m.train(training).load_state_dict(theirs.state_dict())
        args, kw = torch.utils._pytree.tree_map(
            lambda t: t.detach().double().requires_grad_(t.requires_grad)
            if isinstance(t, torch.Tensor) and t.is_floating_point() else t, (f.args, f.kwargs))
        out = m(*args, **kw)
        if fwd:  # the forward result, whatever the memory format
            return out
        ins = [t for t in _tensors((args, kw)) if t.requires_grad] + [
            p for p in m.parameters() if p.requires_grad]
        return _grads(_as_list(out), ins)

    def compare(check, got, want) -> bool:
        if dtype not in LOW_PRECISION:
            msg = _differs(got, want)
        elif check == "gradient":
            with saved_in(dtype):
                rounded = exact(False)
            msg = _half_differs(got, want, [exact(False), rounded])
        else:
            msg = _half_differs(got, want, [exact(True)])
        if msg:
            note(check, what, "differs", msg)
        return not msg

    args_m, kw_m = _clone((f.args, f.kwargs))
    args_t, kw_t = _clone((f.args, f.kwargs))
    want = theirs(*args_t, **kw_t)
    try:
        got = mine(*args_m, **kw_m)
    except Exception as exc:
        note("forward", what, f"nnref raises {type(exc).__name__}", _short(exc))
        return
    if not compare("forward", got, want):
        return
    if msg := _differs(dict(mine.named_buffers()), dict(theirs.named_buffers())):
        note("buffers after forward", what, "differs", msg)
    ins_m = [t for t in _tensors((args_m, kw_m)) if t.requires_grad] + [
        p for p in mine.parameters() if p.requires_grad]
    ins_t = [t for t in _tensors((args_t, kw_t)) if t.requires_grad] + [
        p for p in theirs.parameters() if p.requires_grad]
    if ins_m and any(o.requires_grad for o in _as_list(want)):
        try:
            g_m = _grads(_as_list(got), ins_m)
        except Exception as exc:
            note("gradient", what, f"nnref raises {type(exc).__name__}", _short(exc))
        else:
            compare("gradient", g_m, _grads(_as_list(want), ins_t))
    x = next(iter(_tensors(f.args)), None)
    if x is not None and x.dim() == 4:
        _module_channels_last(ref_cls, torch_cls, c, f, dtype, device, training, what, note,
                              compare)


def _module_channels_last(ref_cls, torch_cls, c, f, dtype, device, training, what, note,
                          compare) -> None:
    def run(cls):
        m = cls(*c.args, **c.kwargs).to(device=device, dtype=dtype).train(training)
        m = m.to(memory_format=torch.channels_last)
        args = torch.utils._pytree.tree_map(
            lambda t: t.detach().clone().to(memory_format=torch.channels_last)
            if isinstance(t, torch.Tensor) and t.dim() == 4 else t, f.args)
        return m(*args, **f.kwargs)
    want = run(torch_cls)
    try:
        got = run(ref_cls)
    except Exception as exc:
        note("channels-last", what, f"nnref raises {type(exc).__name__}", _short(exc))
        return
    if compare("channels-last", got, want) and (isinstance(got, torch.Tensor) and got.dim() == 4
          and got.is_contiguous(memory_format=torch.channels_last)
          != want.is_contiguous(memory_format=torch.channels_last)):
        note("channels-last", what, "output memory format differs")


# ---------------------------------------------------------------------------------------------
# Optimizers
# ---------------------------------------------------------------------------------------------
def _params(dtype, device, complex_=False) -> list[torch.Tensor]:
    """Weights of a small model: a matrix, a bias, a 3-d kernel, and one that never gets a
    gradient (every optimizer must leave it alone)."""
    gen = torch.Generator().manual_seed(0)
    shapes = ((5, 4), (4,), (2, 3, 3), (3,))
    out = []
    for s in shapes:
        t = torch.randn(s, generator=gen, dtype=torch.float64)
        if complex_:
            t = torch.complex(t, t.flip(0))
        out.append(t.to(device=device, dtype=dtype.to_complex() if complex_ else dtype))
    return [torch.nn.Parameter(t) for t in out]


def _set_grads(params: list[torch.Tensor], step: int) -> None:
    gen = torch.Generator().manual_seed(1000 + step)
    for p in params[:-1]:
        p.grad = torch.randn(p.shape, generator=gen, dtype=torch.float64).to(p)
    params[-1].grad = None


def _lockstep(ref_cls, torch_cls, kwargs, dtype, device, steps=OPTIM_STEPS, swap_at=None,
              scheduler=None, closure=False, differs=_exact_differs) -> str:
    """Run both optimizers on identical parameters and gradients; the first difference
    (``differs(actual, expected)``: bit-identical by default)."""
    p_m, p_t = _params(dtype, device), _params(dtype, device)
    o_m, o_t = ref_cls(p_m, **kwargs), torch_cls(p_t, **kwargs)
    s_m = scheduler(o_m) if scheduler else None
    s_t = scheduler(o_t) if scheduler else None
    for step in range(steps):
        if step == swap_at:
            state_m, state_t = o_m.state_dict(), o_t.state_dict()
            if msg := _state_differs(state_m, state_t, differs):
                return f"state dicts differ before the swap: {msg}"
            o_m, o_t = ref_cls(p_m, **kwargs), torch_cls(p_t, **kwargs)
            o_m.load_state_dict(state_t)
            o_t.load_state_dict(state_m)
        if closure:
            def make(params, s=step):
                def fn():
                    _set_grads(params, s)
                    return sum(float(p.detach().double().sum()) for p in params)
                return fn
            loss_m, loss_t = o_m.step(make(p_m)), o_t.step(make(p_t))
            if loss_m != loss_t:
                return f"step {step}: closure loss {loss_m} vs {loss_t}"
        else:
            _set_grads(p_m, step)
            _set_grads(p_t, step)
            o_m.step()
            o_t.step()
        if s_m is not None:
            s_m.step()
            s_t.step()
        for i, (a, b) in enumerate(zip(p_m, p_t, strict=True)):
            if msg := differs(a.detach(), b.detach()):
                return f"step {step}, parameter {i}: {msg}"
    return _state_differs(o_m.state_dict(), o_t.state_dict(), differs)


def _state_differs(a: dict, b: dict, differs=_exact_differs) -> str:
    if a["state"].keys() != b["state"].keys():
        return f"state for parameters {sorted(a['state'])} vs {sorted(b['state'])}"
    for i in a["state"]:
        if a["state"][i].keys() != b["state"][i].keys():
            return f"parameter {i} state keys {sorted(a['state'][i])} vs {sorted(b['state'][i])}"
        for k, v in a["state"][i].items():
            w = b["state"][i][k]
            if isinstance(v, torch.Tensor) and isinstance(w, torch.Tensor):
                msg = differs(v.to(w.dtype), w)
            else:
                msg = "" if v == w else f"{v!r} vs {w!r}"
            if msg:
                return f"parameter {i} state {k!r}: {msg}"
    return ""


def _describe_kwargs(kwargs: dict) -> str:
    def one(v):
        return f"tensor({v.tolist()})" if isinstance(v, torch.Tensor) else repr(v)
    return ",".join(f"{k}={one(v)}" for k, v in kwargs.items()) or "default"


def _run_optim(ref_cls, info, dtype: torch.dtype, device: str,
               cap: int | None) -> list[Finding]:
    found, note = _collector()

    torch_cls = info.optim_cls
    configs = info.optim_inputs_func(device=device, dtype=dtype)
    for cfg in configs:
        kwargs = dict(cfg.kwargs)
        what = _describe_kwargs(kwargs)
        unclaimed = [k for k in UNCLAIMED if kwargs.get(k)]
        if unclaimed:
            if msg := check_unclaimed(ref_cls, unclaimed[0], dtype, device, kwargs):
                note("unclaimed option", what, "not refused by name", msg)
            continue
        impls = ({"foreach": False}, {"foreach": True}) if "foreach" not in kwargs else ({},)
        for impl in impls:
            kw = {**kwargs, **impl}
            label = what + (f" foreach={impl['foreach']}" if impl else "")
            for check, extra in (
                    ("lockstep", {}),
                    ("state dict moved mid-run", {"swap_at": OPTIM_STEPS // 2}),
                    ("LR scheduler", {"scheduler": lambda o: torch.optim.lr_scheduler.StepLR(
                        o, step_size=5, gamma=0.5)}),
                    ("closure", {"steps": 5, "closure": True})):
                msg, exc = _attempt(
                    lambda kw=kw, extra=extra: _lockstep(ref_cls, torch_cls, kw, dtype, device,
                                                         **extra))
                if exc is not None:
                    note(check, label, f"raises {type(exc).__name__}", _short(exc))
                elif msg:
                    note(check, label, "differs", msg)
    for option in unclaimed_options(info):  # on the default configuration
        if msg := check_unclaimed(ref_cls, option, dtype, device):
            note("unclaimed option", option, "not refused by name", msg)
    db = database()
    for err in (info.optim_error_inputs_func(device=device, dtype=dtype)
                if info.optim_error_inputs_func else ()):
        e = err.optimizer_error_input
        what = f"{err.error_type.__name__} /{err.error_regex}/"
        params = e.params if e.params is not None else _params(dtype, device)

        def attempt(e=e, params=params, on_construction=err.error_on == db.construction):
            opt = ref_cls(params, **e.kwargs)
            if not on_construction:
                for p in opt.param_groups[0]["params"]:
                    p.grad = torch.ones_like(p)
                opt.step()
        if issubclass(err.error_type, Warning):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                exc = _raises(attempt)
            if exc is not None or not any(issubclass(w.category, err.error_type)
                                          for w in caught):
                note("error input", what,
                     f"nnref raises {type(exc).__name__}" if exc else "nnref does not warn",
                     _short(exc) if exc else "")
            continue
        exc = _raises(attempt)
        if exc is None:
            note("error input", what, "nnref accepts", _describe_kwargs(e.kwargs))
        elif not isinstance(exc, err.error_type):
            note("error input", what, f"nnref raises {type(exc).__name__}", _short(exc))
    return found


def check_unclaimed(ref_cls, option: str, dtype: torch.dtype = torch.float32,
                    device: str = "cpu", kwargs: dict | None = None) -> str:
    """Empty when ``ref_cls`` refuses the :data:`UNCLAIMED` ``option`` (set in ``kwargs``, or
    ``True`` by default; ``"complex"`` means complex parameters) with an error naming it, at
    construction or at the first step; otherwise what happened."""
    if kwargs is None:
        kwargs = {} if option == "complex" else {option: True}
    params = _params(dtype, device, complex_=option == "complex")
    try:
        opt = ref_cls(params, **kwargs)
        _set_grads(params, 0)
        opt.step()
    except Exception as exc:
        return "" if option in str(exc) else f"refused without naming {option!r}: {_short(exc)}"
    return f"accepted {option}, which is not claimed: {UNCLAIMED[option]}"


def unclaimed_options(info) -> list[str]:
    """The :data:`UNCLAIMED` options torch's optimizer ``info`` supports."""
    return [o for o in UNCLAIMED
            if o in info.supported_impls or (o == "capturable" and info.has_capturable_arg)
            or (o == "complex" and info.supports_complex)]


# ---------------------------------------------------------------------------------------------
# The command line's --thorough
# ---------------------------------------------------------------------------------------------
def run(devices: Iterable[str], kinds: Iterable[str] | None = None,
        names: Iterable[str] | None = None, cap: int | None = None) -> list[Row]:
    """Every database case on ``devices``; one :class:`Row` per case, failed where a finding
    is not covered by the deviations table (deviations.md). Never raises per case."""
    try:
        selected = cases(kinds, names)
    except Unavailable as exc:
        row = Row("-", "-", "torch test databases", "-")
        row.fail(exc)
        return [row]
    rows = []
    for device in devices:
        for case in selected:
            row = Row(case.kind, case.component,
                      f"{case.db} {case.entry} {str(case.dtype)[6:]}", device)
            try:
                open_ = [f for f in case.run(device, cap) if not covered(case.component, f.key)]
            except Exception as exc:  # one broken case must not hide the others
                row.fail(exc)
            else:
                if open_:
                    row.ok = False
                    row.message = (f"{len(open_)} differences; first: {open_[0].key} -> "
                                   f"{open_[0].detail}")[:300]
            rows.append(row)
    return rows
