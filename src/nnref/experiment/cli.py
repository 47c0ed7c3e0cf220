"""What ``experiments/train.py`` does around Hydra: errors a script can trust, resume by one
command, and a sweep's exit status.

Before Hydra makes any directory, :func:`prepare` turns ``resume=<run dir>`` into the run's own
overrides, imports the config's ``imports`` and checks every value the command could run with
— each swept value of a sweep, on the command line or in ``hydra.sweeper.params`` — with torch
alone (:func:`nnref.experiment.training.validate`): a bad value is one line per value, exit 2,
nothing on disk. After a sweep, :func:`sweep_status` reads every job's ``result.yaml`` and
the entry point exits 1 if any failed, after the others finished.

Nothing here uses Hydra's private modules: the command line is read with the flags Hydra
documents (``--help``, ``--cfg``, ``-m`` ...), the config composed with ``hydra.compose``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import yaml

__all__ = ["UsageError", "prepare", "resume_overrides", "quote", "sweep_status"]

# Where a run keeps its checkpoints and its command-line overrides (Hydra's output subdir).
CHECKPOINTS = "checkpoints"
SAVED = Path(".hydra")


class UsageError(Exception):
    """A command line that cannot run; the message is the one line to print (exit 2)."""


def _parser() -> argparse.ArgumentParser:
    """Hydra's documented command-line flags (``--help`` of any Hydra app), so the overrides
    can be told apart from them."""
    p = argparse.ArgumentParser(add_help=False)
    for flags, kwargs in [
        (("--help", "-h"), {"action": "store_true"}),
        (("--hydra-help",), {"action": "store_true"}),
        (("--version",), {"action": "store_true"}),
        (("--cfg", "-c"), {}),
        (("--resolve",), {"action": "store_true"}),
        (("--package", "-p"), {}),
        (("--run", "-r"), {"action": "store_true"}),
        (("--multirun", "-m"), {"action": "store_true"}),
        (("--shell-completion", "-sc"), {"action": "store_true"}),
        (("--config-path", "-cp"), {}),
        (("--config-name", "-cn"), {}),
        (("--config-dir", "-cd"), {}),
        (("--experimental-rerun",), {}),
        (("--info", "-i"), {"nargs": "?", "const": "all"}),
    ]:
        p.add_argument(*flags, **kwargs)
    p.add_argument("overrides", nargs="*")
    return p


def quote(value: str) -> str:
    """``value`` as a quoted Hydra override value: a path holding ``=`` or ``,`` (every run
    directory is named ``key=value,...``) parses as one string."""
    return "'" + str(value).replace("'", "\\'").replace("${", "\\${") + "'"


def resume_overrides(run_dir: str | Path, given: Sequence[str]) -> list[str]:
    """The overrides that continue the run in ``run_dir``: the ones it ran with (its
    ``.hydra/overrides.yaml``), those in ``given`` on top (replacing a saved one of the same
    key), its own directory and its last checkpoint.

    Raises:
        UsageError: ``run_dir`` is not a run directory, or saved no checkpoint.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    run = Path(run_dir).expanduser().resolve()
    saved_file = run / SAVED / "overrides.yaml"
    if not saved_file.is_file():
        raise UsageError(f"resume={run_dir} is not a run directory (no {SAVED}/overrides.yaml "
                         "there); give the directory a run printed at its end")
    if not any((run / CHECKPOINTS).glob("*.ckpt")):
        raise UsageError(f"resume={run_dir}: the run saved no checkpoint in {CHECKPOINTS}/ "
                         "(it ran with callbacks.model_checkpoint=null, or stopped before "
                         "its first epoch ended); start it again instead")
    saved = yaml.safe_load(saved_file.read_text()) or []
    parser = OverridesParser.create()
    new_keys = {o.key_or_group for o in parser.parse_overrides(list(given))}
    kept = [text for text, o in zip(saved, parser.parse_overrides(saved), strict=True)
            if o.key_or_group not in new_keys and o.key_or_group != "ckpt_path"]
    return [*kept, *given, f"hydra.run.dir={quote(run)}", "ckpt_path=last"]


def _candidates(overrides: list[str], sweeper_params: dict
                ) -> Iterator[tuple[list[str], str | None]]:
    """Override lists that together hold every swept value once: the first value of every
    sweep, then each other value with the others at their first (not the whole product);
    each with the one override that differs from the first list (``None`` for the first)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    fixed, sweeps = [], []
    given = {o.key_or_group for o in parser.parse_overrides(overrides)}
    params = [f"{k}={v}" for k, v in (sweeper_params or {}).items() if k not in given]
    for text, o in zip([*overrides, *params], parser.parse_overrides([*overrides, *params]),
                       strict=True):
        if not o.is_sweep_override():
            fixed.append(text)
        elif o.is_choice_sweep():
            key = text.split("=", 1)[0]
            sweeps.append([f"{key}={v}" for v in o.sweep_string_iterator()])
        # ranges and intervals (Optuna's search space) are drawn by the sweeper: not listed
    yield fixed + [s[0] for s in sweeps], None
    for sw in sweeps:
        for v in sw[1:]:
            yield fixed + [v] + [s[0] for s in sweeps if s is not sw], v


def _varied(conf: Path, base, candidate: list[str], changed: str | None):
    """The config of ``candidate``: ``base`` (the first candidate's) with the one changed
    value set in place — composing anew costs Hydra a second a time, and a grid of 35 arms
    would wait half a minute — or composed anew where it picks a group's option."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf, open_dict

    if changed is None:
        return base
    [o] = OverridesParser.create().parse_overrides([changed])
    key = o.key_or_group
    if o.is_delete() or (conf / key.split("/")[0]).is_dir() and "." not in key:
        return _compose(conf, candidate)
    cfg = base.copy()
    with open_dict(cfg):
        OmegaConf.update(cfg, key, o.value(), merge=False)
    return cfg


def _compose(conf: Path, overrides: list[str], hydra_node: bool = False):
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return compose("train", overrides=overrides, return_hydra_config=hydra_node)


def _key_error(conf: Path, overrides: list[str], key: str) -> str:
    """``model.widht is not a key of model; its keys: ... (did you mean 'width'?)``."""
    from omegaconf import OmegaConf

    from nnref.experiment.errors import did_you_mean

    parent, _, leaf = key.rpartition(".")
    rest = [o for o in overrides if not o.lstrip("+~").startswith(key + "=")]
    try:
        node = OmegaConf.select(_compose(conf, rest), parent) if parent else _compose(conf, rest)
        keys = [str(k) for k in node.keys()]
    except Exception:  # the other overrides are broken too: report this one plainly
        return f"config error: {key} is not a config key"
    return (f"config error: {key} is not a key of {parent or 'the config'}; its keys: "
            f"{', '.join(keys)}{did_you_mean(leaf, keys)} (add a new key with +{key}=...)")


def _composition_error(conf: Path, overrides: list[str], e: Exception) -> str:
    import re

    from hydra.errors import MissingConfigException

    from nnref.experiment.errors import did_you_mean

    if isinstance(e, MissingConfigException):
        group, _, value = (e.missing_cfg_file or "").rpartition("/")
        options = list(e.options or [])
        if group and options:
            return (f"config error: {group}={value!r} is not valid; choose one of: "
                    f"{', '.join(options)}{did_you_mean(value, options)}")
    missing = re.search(r"Could not override '([\w.]+)'", str(e))
    if missing:
        return _key_error(conf, overrides, missing[1])
    return f"config error: {str(e).splitlines()[0]}"


def _check_values(conf: Path, overrides: list[str], multirun: bool) -> list[str]:
    """One error line per bad value the command could run with (none: all good)."""
    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf import OmegaConf, open_dict

    first, _ = next(_candidates(overrides, {}))
    try:
        base = _compose(conf, first, hydra_node=True)
    except (ConfigCompositionException, MissingConfigException) as e:
        return [_composition_error(conf, first, e)]
    from nnref.experiment.training import ConfigError, validate  # torch: after the keys
    node = base.hydra.sweeper.get("params") if multirun else None
    params = OmegaConf.to_container(node) if OmegaConf.is_config(node) else {}
    with open_dict(base):  # a job's config: copied once per candidate, so keep it small
        del base["hydra"]
    errors: list[str] = []
    seen: set[str] = set()
    data_cache: dict = {}  # one data set per distinct data config: most grids share one
    candidates = _candidates(overrides, params) if multirun else [(overrides, None)]
    for candidate, changed in candidates:
        try:
            validate(_varied(conf, base, candidate, changed), data_cache)
        except (ConfigCompositionException, MissingConfigException) as e:
            line = _composition_error(conf, candidate, e)
        except ConfigError as e:
            line = f"config error: {e}"
        else:
            continue
        if line not in seen:
            seen.add(line)
            errors.append(line)
    return errors


def prepare(argv: list[str], conf: Path) -> list[str]:
    """The command line Hydra should run for ``argv``, every value checked first.

    Raises:
        UsageError: one line per problem (a bad override, value or resume directory).
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    args, _ = _parser().parse_known_args(argv)
    if args.help or args.hydra_help or args.version or args.shell_completion:
        return argv  # Hydra's own answers: nothing is composed
    resume = [a for a in args.overrides if a.startswith("resume=")]
    if resume:
        if len(resume) > 1 or args.multirun:
            raise UsageError("config error: resume= continues one run: give it once, "
                             "without -m")
        rest = [a for a in args.overrides if not a.startswith("resume=")]
        overrides = resume_overrides(resume[0].removeprefix("resume="), rest)
        flags = [a for a in argv if a not in args.overrides]
        argv = [*flags, *overrides]
    else:
        overrides = args.overrides
    try:
        OverridesParser.create().parse_overrides(overrides)
    except OverrideParseException as e:
        raise UsageError(f"config error: {str(e).splitlines()[0]}") from None
    if args.info or args.cfg:
        return argv  # a config printed, nothing run: Hydra reports what does not compose
    errors = _check_values(conf, overrides, args.multirun)
    if errors:
        raise UsageError("\n".join(errors))
    return argv


def sweep_status(sweep_dir: Path | str) -> list[tuple[str, str]]:
    """``(job, reason)`` for every job of the sweep that did not finish: a failed or
    misconfigured job (its ``result.yaml``), or one that left no result (killed)."""
    from nnref.experiment.training import RESULT

    failed = []
    for saved in sorted(Path(sweep_dir).rglob(f"{SAVED}/overrides.yaml")):
        job = saved.parent.parent
        result = job / RESULT
        if not result.is_file():
            failed.append((job.name, "no result: the job was killed or is still running"))
            continue
        record = yaml.safe_load(result.read_text()) or {}
        status = record.get("status")
        if status not in ("ok", "diverged"):
            reason = record.get("reason", "")
            failed.append((job.name, reason if status == "failed" else f"{status}: {reason}"))
    return failed


def fail(message: str, status: int) -> None:
    print(message, file=sys.stderr)
    sys.exit(status)
