"""nnref.testing on six components written without it (tests/testing_examples): each correct
one passes every property, each broken variant fails the property its bug breaks; the messages
name property, dtype, sample, element and ulps; the pytest plugin, in this interpreter and in a
new virtual environment with nnref installed from the working tree."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from testing_examples import gelu_tanh as gelu
from testing_examples import grad_reversal, layer_norm, lion, logsumexp, ste

from nnref import testing

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).resolve().parent / "testing_examples"

# The checks of each example, as a user would write them. A straight-through estimator and a
# gradient reversal are not derivatives of their forward: finite differences do not apply.
FACTORIES = {
    "ste": lambda fn, **kw: testing.function_checks(
        fn, reference=ste.reference, kinks=ste.KINKS, skip=("gradcheck",), **kw),
    "grad_reversal": lambda fn, **kw: testing.function_checks(
        fn, oracle=grad_reversal.reference, skip=("gradcheck",), **kw),
    "gelu_tanh": lambda fn, **kw: testing.function_checks(fn, reference=gelu.reference, **kw),
    "logsumexp": lambda fn, **kw: testing.function_checks(
        fn, reference=torch.logsumexp, kwargs={"dim": -1}, **kw),
    "layer_norm": lambda cls, **kw: testing.module_checks(
        cls, reference=torch.nn.LayerNorm, args=(5,),
        sample_inputs=[(3, 4, 5), (64, 48, 5), (5,), (0, 5)], **kw),
    "lion": lambda cls, **kw: testing.optimizer_checks(
        cls, lion.LionLoop, ({}, {"lr": 1e-3, "weight_decay": 0.1}), **kw),
}
CORRECT = {
    "ste": ste.sign_ste, "grad_reversal": grad_reversal.grad_reverse,
    "gelu_tanh": gelu.GeluTanh.apply, "logsumexp": logsumexp.logsumexp,
    "layer_norm": layer_norm.LayerNorm, "lion": lion.Lion,
}
# (example, broken variant, the property its bug breaks)
BROKEN = [
    ("ste", ste.sign_ste_not_marked, "differentiability"),
    ("grad_reversal", grad_reversal.grad_reverse_in_place, "mutation"),
    ("gelu_tanh", gelu.GeluTanhWrongDerivative.apply, "backward"),
    ("logsumexp", logsumexp.logsumexp_mutates_saved, "mutation"),
    ("logsumexp", logsumexp.logsumexp_naive, "extremes"),
    ("layer_norm", layer_norm.LayerNormContiguous, "layouts"),
    ("layer_norm", layer_norm.LayerNormWrongEps, "signature"),
    ("lion", lion.LionWrongDefault, "signature"),
    ("lion", lion.LionForeachNoDecay, "lockstep_foreach"),
]


def _test_name(example: str, fn) -> str:
    module = {"gelu_tanh": "gelu"}.get(example, example)
    qual = getattr(fn, "__qualname__", "")
    if qual == "Function.apply" or qual.endswith(".apply"):
        qual = fn.__self__.__name__
    return re.sub(r"\W", "_", f"{module}.{qual}").lower()


def _broken_id(case):
    return f"{_test_name(case[0], case[1])}-{case[2]}"


@pytest.mark.parametrize("name", list(CORRECT))
def test_each_correct_example_passes_every_property(name):
    testing.run_checks(FACTORIES[name](CORRECT[name]))


@pytest.mark.parametrize(("name", "fn", "prop"), BROKEN, ids=[_broken_id(c) for c in BROKEN])
def test_each_broken_variant_fails_naming_its_property(name, fn, prop):
    with pytest.raises(testing.CheckFailure) as caught:
        testing.run_checks(FACTORIES[name](fn, properties=[prop]))
    assert caught.value.properties == {prop}
    assert all(str(f).startswith(prop) for f in caught.value.failures)


def test_a_broken_variant_is_not_rejected_by_chance_of_the_property_list():
    """The correct example passes the exact property list each broken variant fails."""
    for name, _, prop in BROKEN:
        testing.run_checks(FACTORIES[name](CORRECT[name], properties=[prop]))


def test_message_names_property_dtype_sample_element_and_ulps():
    with pytest.raises(testing.CheckFailure) as caught:
        testing.check_function(gelu.GeluTanhWrongDerivative.apply, reference=gelu.reference,
                               properties=["backward"], dtypes=[torch.float32])
    msg = str(caught.value)
    assert re.search(r"^backward \[float32\] sample float32\[3, 6, 5\]: gradient of argument 0: "
                     r"\d+ of 90 elements differ, worst at \(\d+, \d+, \d+\): got [-\d.e]+, "
                     r"expected [-\d.e]+, error [\d.e+]+ ulps", msg, re.M), msg


def test_half_message_names_the_ulps_from_the_exact_value():
    def naive(x):  # 1 + tanh(u) cancels in float16 for negative x
        u = 0.7978845608028654 * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1 + torch.tanh(u))
    with pytest.raises(testing.CheckFailure, match=r"forward \[float16\] .*ulps from it"):
        testing.check_function(naive, reference=gelu.reference, properties=["forward"],
                               dtypes=[torch.float16])


def test_one_failure_per_check_all_listed():
    with pytest.raises(testing.CheckFailure) as caught:
        testing.check_function(gelu.GeluTanhWrongDerivative.apply, reference=gelu.reference,
                               properties=["forward", "backward"],
                               dtypes=[torch.float64, torch.float32])
    assert str(caught.value).startswith("2 of 4 checks failed:")
    assert [(f.property, f.dtype) for f in caught.value.failures] == [
        ("backward", torch.float64), ("backward", torch.float32)]


def test_user_samples_broadcast_and_two_inputs():
    def hypot(a, b):
        return torch.sqrt(a * a + b * b)
    testing.check_function(hypot, reference=torch.hypot, arity=2, domain=(0.5, 3.0),
                           properties=["forward", "backward", "layouts"],
                           dtypes=[torch.float64])
    samples = [(torch.rand(4, 3) + 0.5, torch.rand(3) + 0.5), testing.Sample(((2, 3), (2, 3)))]
    testing.check_function(hypot, reference=torch.hypot, sample_inputs=samples,
                           properties=["forward", "backward"], dtypes=[torch.float64])
    with pytest.raises(testing.CheckFailure, match="backward"):
        testing.check_function(lambda a, b: hypot(a, b.detach()), reference=torch.hypot,
                               sample_inputs=samples, properties=["backward"],
                               dtypes=[torch.float64])


def test_bad_calls_are_refused_naming_the_choice():
    with pytest.raises(ValueError, match="exactly one of reference= .* and oracle="):
        testing.function_checks(torch.sin, reference=torch.sin, oracle=torch.sin)
    with pytest.raises(ValueError, match="unknown properties \\['speed'\\]; valid: forward"):
        testing.function_checks(torch.sin, reference=torch.sin, properties=["speed"])
    with pytest.raises(ValueError, match="arity must be one of \\[1, 2\\]"):
        testing.function_checks(torch.sin, reference=torch.sin, arity=3)


def test_signature_differs_follows_torchs_positional_order():
    def theirs(input, approximate="none"):
        return input

    def same(input, approximate="none", *, extra=1):
        return input

    def default(input, approximate="tanh"):
        return input

    def positional_extra(input, approximate="none", extra=1):
        return input
    assert testing.signature_differs(same, theirs) == ""
    assert "approximate='tanh'" in testing.signature_differs(default, theirs)
    assert "not keyword-only" in testing.signature_differs(positional_extra, theirs)
    assert "missing ['approximate']" in testing.signature_differs(lambda input: input, theirs)


def test_load_and_checks_for_dispatch_by_kind():
    assert testing.load("torch.nn.functional.gelu") is torch.nn.functional.gelu
    assert testing.load("testing_examples.lion:Lion") is lion.Lion
    assert testing.checks_for(gelu.GeluTanh, gelu.reference)[0].property == "forward"
    assert testing.checks_for(lion.Lion, lion.LionLoop)[0].property == "signature"
    assert testing.checks_for(ste.sign_ste, ste.reference)[0].property == "forward"
    with pytest.raises(TypeError, match="cannot check 3"):
        testing.checks_for(3, torch.sin)


@testing.parametrize(FACTORIES["gelu_tanh"](gelu.GeluTanh.apply,
                                           properties=["forward", "gradcheck"]))
def test_parametrize_gives_one_test_per_property_and_dtype(check, request):
    assert request.node.callspec.id in (
        "forward-float64", "forward-float32", "forward-float16", "forward-bfloat16", "gradcheck")
    check()


def _run_pytest(python, args, cwd, plugin_flag=()):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
    return subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q",
                           *plugin_flag, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900)


@pytest.mark.slow  # a fresh interpreter compiles: about 30 s
def test_plugin_option_checks_a_component_by_name(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "testing_examples")
    from importlib.metadata import entry_points

    # this environment may predate the entry point (an editable install made before it)
    installed = any(ep.value == "nnref.testing_plugin" for ep in entry_points(group="pytest11"))
    out = _run_pytest(sys.executable, [
        "--nnref-check", "testing_examples.gelu_tanh:GeluTanhWrongDerivative",
        "--against", "testing_examples.gelu_tanh:reference"], tmp_path,
        () if installed else ("-p", "nnref.testing_plugin"))
    assert out.returncode == 1, out.stdout[-3000:]
    assert re.search(r"^FAILED .*GeluTanhWrongDerivative\[backward-float64\]", out.stdout, re.M)
    assert re.search(r"^PASSED .*GeluTanhWrongDerivative\[forward-float64\]", out.stdout, re.M)


# --- the bar: a new virtual environment, a test directory outside the repository ------------
OUTSIDE_TESTS = '''
import torch
from nnref import testing
from testing_examples import grad_reversal, layer_norm, lion, logsumexp, ste
from testing_examples import gelu_tanh as gelu

{factories}

{tests}
'''


def _outside_tests() -> str:
    """One test function per example variant, written with testing.parametrize."""
    factories = (
        "def ste_checks(fn):\n"
        "    return testing.function_checks(fn, reference=ste.reference, kinks=ste.KINKS,\n"
        "                                   skip=('gradcheck',))\n"
        "def grad_reversal_checks(fn):\n"
        "    return testing.function_checks(fn, oracle=grad_reversal.reference,\n"
        "                                   skip=('gradcheck',))\n"
        "def gelu_tanh_checks(fn):\n"
        "    return testing.function_checks(fn, reference=gelu.reference)\n"
        "def logsumexp_checks(fn):\n"
        "    return testing.function_checks(fn, reference=torch.logsumexp,\n"
        "                                   kwargs={'dim': -1})\n"
        "def layer_norm_checks(cls):\n"
        "    return testing.module_checks(cls, reference=torch.nn.LayerNorm, args=(5,),\n"
        "                                 sample_inputs=[(3, 4, 5), (64, 48, 5), (5,), (0, 5)])\n"
        "def lion_checks(cls):\n"
        "    return testing.optimizer_checks(cls, lion.LionLoop,\n"
        "                                    ({}, {'lr': 1e-3, 'weight_decay': 0.1}))\n")
    variants = {
        "ste": ["ste.sign_ste", "ste.sign_ste_not_marked"],
        "grad_reversal": ["grad_reversal.grad_reverse", "grad_reversal.grad_reverse_in_place"],
        "gelu_tanh": ["gelu.GeluTanh.apply", "gelu.GeluTanhWrongDerivative.apply"],
        "logsumexp": ["logsumexp.logsumexp", "logsumexp.logsumexp_mutates_saved",
                      "logsumexp.logsumexp_naive"],
        "layer_norm": ["layer_norm.LayerNorm", "layer_norm.LayerNormContiguous",
                       "layer_norm.LayerNormWrongEps"],
        "lion": ["lion.Lion", "lion.LionWrongDefault", "lion.LionForeachNoDecay"],
    }
    tests = []
    for name, targets in variants.items():
        for target in targets:
            test = re.sub(r"\W", "_", target.replace(".apply", "")).lower()
            tests.append(f"@testing.parametrize({name}_checks({target}))\n"
                         f"def test_{test}(check):\n    check()\n")
    return OUTSIDE_TESTS.format(factories=factories, tests="\n\n".join(tests))


def _outcomes(stdout: str) -> dict[str, set[str]]:
    """test function -> the check ids that failed, for every test function that ran."""
    out: dict[str, set[str]] = {}
    for status, func, cid in re.findall(r"^(PASSED|FAILED) \S+::(\w+)\[([^\]]+)\]", stdout,
                                        re.M):
        out.setdefault(func, set())
        if status == "FAILED":
            out[func].add(cid.split("-")[0])
    return out


@pytest.mark.slow
def test_plugin_in_a_new_venv_outside_the_repository(tmp_path):
    """nnref installed (not editable) from the working tree into a new virtual environment
    that reuses this one's packages (torch, pytest; a path file, so nothing is downloaded): the
    plugin is found by its entry point, the correct examples pass, each broken variant fails
    the property its bug breaks."""
    env_dir, work = tmp_path / "venv", tmp_path / "work"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], capture_output=True, text=True, check=True)
    site = Path(site.stdout.strip())
    (site / "reused_packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    build = tmp_path / "src"
    shutil.copytree(ROOT, build, ignore=shutil.ignore_patterns(
        ".git", ".venv", "outputs", "multirun", "logs", "*.egg-info", "build", "site"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(site), str(build)], check=True,
                   timeout=600)
    shutil.copytree(EXAMPLES, work / "testing_examples")
    (work / "test_examples.py").write_text(_outside_tests())
    found = subprocess.run([str(python), "-c", "import nnref; print(nnref.__file__)"],
                           cwd=work, capture_output=True, text=True, check=True).stdout
    assert str(env_dir) in found, found  # the installed copy, not the working tree
    out = _run_pytest(python, [], work)
    outcomes = _outcomes(out.stdout)
    for name, fn in CORRECT.items():
        assert outcomes.pop(f"test_{_test_name(name, fn)}") == set(), out.stdout[-3000:]
    for name, fn, prop in BROKEN:
        assert prop in outcomes.pop(f"test_{_test_name(name, fn)}"), (prop, out.stdout[-3000:])
    assert not outcomes
    # and the option, found through the entry point alone, in a directory without tests
    shutil.copytree(EXAMPLES, tmp_path / "cli" / "testing_examples")
    target = "testing_examples.gelu_tanh:GeluTanhWrongDerivative"
    cli = _run_pytest(python, ["--nnref-check", target, "--against",
                               "testing_examples.gelu_tanh:reference"], tmp_path / "cli")
    assert re.search(r"^FAILED .*GeluTanhWrongDerivative\[backward-float64\]", cli.stdout, re.M)
    assert re.search(r"^PASSED .*GeluTanhWrongDerivative\[forward-float64\]", cli.stdout, re.M)


@pytest.mark.slow  # about 25 s: the page runs whole batteries
def test_the_book_page_runs_as_written():
    """scripts/docs/testing.md: every >>> example, with its output."""
    import doctest

    page = ROOT / "scripts" / "docs" / "testing.md"
    result = doctest.testfile(str(page), module_relative=False, report=True,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 17 and result.failed == 0, result


# --- independently checked: small bugs injected (monkeypatched, never written to a file) -------
def _scaled_backward(cls, factor):
    original = cls.backward

    def backward(ctx, *grads):
        out = original(ctx, *grads)
        return tuple(None if g is None else g * factor for g in out) \
            if isinstance(out, tuple) else out * factor
    return backward


def _mutate_adam_eps(monkeypatch):
    from nnref.optim import adam
    original = adam.Adam._single_tensor
    monkeypatch.setattr(adam.Adam, "_single_tensor", lambda self, group, params, grads: (
        original(self, {**group, "eps": group["eps"] * 10}, params, grads)))


def _mutate_sgd_foreach_decay(monkeypatch):
    from nnref.optim import sgd
    original = sgd.SGD._multi_tensor
    monkeypatch.setattr(sgd.SGD, "_multi_tensor", lambda self, group, params, grads: (
        original(self, {**group, "weight_decay": 0.0}, params, grads)))


def _mutate_sigmoid_saves_input(monkeypatch):
    from nnref.activations import sigmoidal
    original = sigmoidal._SigmoidFn.setup_context

    def setup_context(ctx, inputs, output):
        original(ctx, inputs, output)
        ctx.spare = inputs[0].clone()  # kept for backward, never used
        ctx.save_for_backward(output, ctx.spare)
    backward = sigmoidal._SigmoidFn.backward
    monkeypatch.setattr(sigmoidal._SigmoidFn, "setup_context", staticmethod(setup_context))
    monkeypatch.setattr(sigmoidal._SigmoidFn, "backward", staticmethod(
        lambda ctx, grad: backward(SimpleNamespace(saved_tensors=ctx.saved_tensors[:1]), grad)))


def _mutate_tanh_writes_upstream(monkeypatch):
    from nnref.activations import sigmoidal
    original = sigmoidal._TanhFn.backward

    def backward(ctx, grad):
        out = original(ctx, grad)
        return grad.copy_(out)
    monkeypatch.setattr(sigmoidal._TanhFn, "backward", staticmethod(backward))


def _mutate_leaky_relu_default(monkeypatch):
    from nnref.activations import rectifiers
    monkeypatch.setattr(rectifiers.LeakyReLU.__init__, "__defaults__", (0.1, False))


def _mutate_elu_backward(monkeypatch):
    from nnref.activations import rectifiers
    monkeypatch.setattr(rectifiers._ELUFn, "backward",
                        staticmethod(_scaled_backward(rectifiers._ELUFn, 1 + 2**-20)))


def _mutate_ste_mask(monkeypatch):
    monkeypatch.setattr(ste.SignSTE, "forward", staticmethod(
        lambda x: (torch.sign(x), (x.abs() <= 1).to(x.dtype))))


def _mutate_layer_norm_eps(monkeypatch):
    def normalized(x, dims, eps):  # eps outside the square root
        xc = x - x.mean(dims, keepdim=True)
        rstd = 1 / (torch.sqrt((xc * xc).mean(dims, keepdim=True)) + eps)
        return xc * rstd, rstd
    monkeypatch.setattr(layer_norm, "_normalized", normalized)


def _mutate_grad_reversal_lambda(monkeypatch):
    monkeypatch.setattr(grad_reversal.GradReverse, "backward",
                        staticmethod(lambda ctx, grad: (-grad, None)))


def _mutate_lion_beta(monkeypatch):
    original = lion.Lion.__dict__["_single"].__func__

    def single(params, grads, ms, group):  # the momentum kept with beta1 instead of beta2
        b1 = group["betas"][0]
        original(params, grads, ms, {**group, "betas": (b1, b1)})
    monkeypatch.setattr(lion.Lion, "_single", staticmethod(single))


def _mutate_gelu_half(monkeypatch):
    monkeypatch.setattr(gelu, "_opmath", lambda x: x)


def _mutate_logsumexp_backward(monkeypatch):
    monkeypatch.setattr(logsumexp.LogSumExp, "backward",
                        staticmethod(_scaled_backward(logsumexp.LogSumExp, 1 - 2**-30)))


def _nnref_module(name):
    from nnref import registry
    spec = registry.spec("activation", name)
    return lambda **kw: testing.module_checks(spec.reference, reference=spec.builtin, **kw)


def _nnref_optim(name, configs):
    from nnref import registry
    spec = registry.spec("optim", name)
    return lambda **kw: testing.optimizer_checks(spec.reference, spec.builtin, configs,
                                                 steps=50, **kw)


# (what is injected, the mutation, the checks, the property expected to catch it)
MUTATIONS = [
    ("nnref ELU backward scaled by 1 + 2^-20", _mutate_elu_backward, _nnref_module("elu"),
     "backward"),
    ("nnref LeakyReLU default slope 0.01 -> 0.1", _mutate_leaky_relu_default,
     _nnref_module("leaky_relu"), "signature"),
    ("nnref sigmoid saves its input too", _mutate_sigmoid_saves_input,
     _nnref_module("sigmoid"), "saved_bytes"),
    ("nnref tanh backward writes into the upstream gradient", _mutate_tanh_writes_upstream,
     _nnref_module("tanh"), "mutation"),
    ("nnref Adam single-tensor eps x10", _mutate_adam_eps,
     _nnref_optim("adam", ({},)), "lockstep"),
    ("nnref SGD foreach path drops weight decay", _mutate_sgd_foreach_decay,
     _nnref_optim("sgd", ({"lr": 0.1, "weight_decay": 0.01},)), "lockstep_foreach"),
    ("STE mask |x| <= 1 (hardtanh's derivative is 0 at +-1)", _mutate_ste_mask,
     lambda **kw: FACTORIES["ste"](ste.sign_ste, **kw), "kinks"),
    ("gradient reversal ignores lambda", _mutate_grad_reversal_lambda,
     lambda **kw: FACTORIES["grad_reversal"](grad_reversal.grad_reverse, **kw), "backward"),
    ("GELU-tanh in half precision throughout", _mutate_gelu_half,
     lambda **kw: FACTORIES["gelu_tanh"](gelu.GeluTanh.apply, **kw), "forward"),
    ("log-sum-exp backward scaled by 1 - 2^-30", _mutate_logsumexp_backward,
     lambda **kw: FACTORIES["logsumexp"](logsumexp.logsumexp, **kw), "backward"),
    ("LayerNorm eps outside the square root", _mutate_layer_norm_eps,
     lambda **kw: FACTORIES["layer_norm"](layer_norm.LayerNorm, **kw), "forward"),
    ("Lion momentum kept with beta1", _mutate_lion_beta,
     lambda **kw: FACTORIES["lion"](lion.Lion, **kw), "lockstep"),
]


@pytest.mark.slow  # about a minute: every property of each mutated component
@pytest.mark.parametrize(("label", "mutate", "checks", "prop"), MUTATIONS,
                         ids=[m[0] for m in MUTATIONS])
def test_injected_bugs_are_caught(monkeypatch, label, mutate, checks, prop):
    """Without the mutation every property holds; with it, the run fails and ``prop`` is among
    the properties named."""
    testing.run_checks(checks())
    mutate(monkeypatch)
    with pytest.raises(testing.CheckFailure) as caught:
        testing.run_checks(checks())
    assert prop in caught.value.properties, str(caught.value)


def test_registry_checks_cover_a_users_registered_activation(scratch_registry):
    """nnref's own parity tests come from registry_checks: a component added with
    verify.register gets every property, and a wrong derivative fails its backward."""
    from nnref import registry, verify
    from nnref.verify.cases.activation import ActivationCases

    class _Twice(torch.autograd.Function):
        generate_vmap_rule = True

        @staticmethod
        def forward(x):
            return 2 * x

        @staticmethod
        def setup_context(ctx, inputs, output):
            pass

        @staticmethod
        def backward(ctx, grad):
            return 3 * grad  # wrong: the derivative is 2

    class Twice(torch.nn.Module):
        def forward(self, x):
            return _Twice.apply(x)

    verify.register(registry.Spec("twice_wrong", "activation", Twice, None),
                    ActivationCases(oracle=lambda module, x: 2 * x))
    checks = testing.registry_checks("activation", names=["twice_wrong"])
    assert {c.id for c in checks} == {
        *(f"forward_backward-{d}-twice_wrong-0" for d in ("float32", "float64", "float16",
                                                          "bfloat16")),
        "extremes-float32-twice_wrong-0", "extremes-float64-twice_wrong-0",
        "layouts-twice_wrong-0", "gradcheck-twice_wrong-0", "saved_bytes-twice_wrong-0",
        "vmap-twice_wrong-0", "compile-twice_wrong"}
    run = {"forward_backward-float64-twice_wrong-0", "gradcheck-twice_wrong-0",
           "vmap-twice_wrong-0"}
    failed = {c.id for c in checks if c.id in run and c.failure() is not None}
    assert failed == run - {"vmap-twice_wrong-0"}  # vmap agrees with a loop: it holds
    with pytest.raises(ValueError,
                       match=r"covers the kinds \['activation', 'loss', 'optim'\], got 'lr'"):
        testing.registry_checks("lr")


def test_check_module_takes_a_forward_of_several_inputs():
    """A recurrent cell's forward(input, hx): each sample is a tuple of the inputs."""
    from nnref import recurrent

    testing.check_module(recurrent.RNNCell, reference=torch.nn.RNNCell, args=(4, 5),
                         sample_inputs=[((3, 4), (3, 5))], dtypes=[torch.float64, torch.float32],
                         properties=["signature", "state_dict", "forward", "backward"])

    class HiddenStateDetached(recurrent.RNNCell):  # no gradient reaches hx
        def forward(self, input, hx=None):
            return super().forward(input, None if hx is None else hx.detach())
    with pytest.raises(testing.CheckFailure, match=r"backward \[float64\] sample float64\[3, 4\], "
                                                   r"float64\[3, 5\], .*gradient of argument 1"):
        testing.check_module(HiddenStateDetached, reference=torch.nn.RNNCell, args=(4, 5),
                             sample_inputs=[((3, 4), (3, 5))], dtypes=[torch.float64],
                             properties=["backward"])
