"""What a run prints: a progress display that suits where it goes, no noise, one closing line.

- Progress: Lightning's Rich bar when stdout is a terminal, one line per epoch otherwise (a log
  file, CI), so logs stay short and readable.
- Noise: Lightning's "💡 Tip" advertisements are dropped, and known deprecation warnings raised
  inside third-party packages (not by nnref or the user's code) are filtered one by one, by
  message and module, so every other warning still shows.
- The end: one line with the final metrics and where the run went, and the TensorBoard command.
"""

from __future__ import annotations

import logging
import math
import re
import sys
import warnings
from collections.abc import Mapping
from pathlib import Path

from hydra.experimental.callback import Callback

__all__ = ["quiet", "progress_bar", "number", "metrics_text", "summary", "tensorboard_command",
           "say", "remove_run_dir", "SweepCallback", "SWEEP_FAILURES", "STOP_REASON",
           "STORY_URL", "KNOWN_WARNINGS"]

# The failed jobs of the last sweep this process launched, ``(job, reason)``: the entry point
# exits 1 when there are any.
SWEEP_FAILURES: list[tuple[str, str]] = []

# (message regex, module regex) of warnings third-party code raises about its own internals;
# nothing here can be acted on by a user of nnref.
KNOWN_WARNINGS = [
    # torch deprecated LeafSpec; Lightning's pytree helper still builds one for every loader
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated",
     r"lightning\.pytorch\.utilities\._pytree"),
    # tbparse (reading a sweep back for its report) sorts with pandas' inplace keyword
    (r"The inplace keyword in DataFrame\.sort_values is deprecated", r"tbparse\b"),
    # Lightning's hint on any machine with Slurm installed, though the run is not a Slurm job
    (r"The `srun` command is available on your system but is not used",
     r"lightning\.fabric\.plugins\.environments\.slurm"),
]
# Lightning's log lines that advertise other products, or restate the defaults, rather than
# describe the run.
_ADVERTS = ("💡 Tip", "GPU available: False", "TPU available: False", "HPU available: False")
_DEFAULTS = re.compile(r"`Trainer\(limit_\w+_batches=1\.0\)` was configured so 100%")


# Why Lightning stopped the last fit (``max_epochs=2 reached``): its own line would print
# between the last two epochs' lines, so it is folded into the closing line instead.
STOP_REASON: list[str] = []
_STOPPED = re.compile(r"`Trainer\.fit` stopped: (.*?)\.?$")


class _DropAdverts(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        text = str(record.getMessage()).strip()
        stopped = _STOPPED.match(text)
        if stopped:
            STOP_REASON[:] = [stopped[1].replace("`", "")]
            return False
        return not (text.startswith(_ADVERTS) or _DEFAULTS.match(text))


def quiet() -> None:
    """Filter the known third-party warnings and Lightning's tips; make Lightning's log lines
    go through the root handlers once (Hydra's console and ``train.log``), not twice."""
    for message, module in KNOWN_WARNINGS:
        warnings.filterwarnings("ignore", message=message, module=module)
    for name in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning"):
        logger = logging.getLogger(name)
        # Lightning adds a console handler of its own when imported before logging is set up;
        # Hydra's root handler prints the same records again through propagation.
        for handler in list(logger.handlers):
            if isinstance(handler, logging.StreamHandler) and not isinstance(
                    handler, logging.FileHandler):
                logger.removeHandler(handler)
        logger.propagate = True
        if not any(isinstance(f, _DropAdverts) for f in logger.filters):
            logger.addFilter(_DropAdverts())
    # Lightning's rank_zero_info goes through these loggers' children: filter at the handlers
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _DropAdverts) for f in handler.filters):
            handler.addFilter(_DropAdverts())


def progress_bar():
    """A Rich progress bar on a terminal, one line per epoch elsewhere."""
    if sys.stdout.isatty():
        from nnref.experiment.lit.callbacks import EpochBar

        return EpochBar()
    from nnref.experiment.lit import EpochLine

    return EpochLine()


# Metric names as the user knows them: Lightning's epoch aggregate of the training loss is the
# training loss.
SHOWN_AS = {"train/loss_epoch": "train/loss"}


def number(v: float) -> str:
    """A metric in a fixed width: four significant digits, trailing zeros kept
    (``   0.1000`` beside ``  0.09259``)."""
    return f"{v:>#9.4g}"


def metrics_text(metrics: Mapping[str, float], names: tuple[str, ...]) -> str:
    """``name value`` pairs for the ``names`` present, in that order, fixed width."""
    return "  ".join(f"{SHOWN_AS.get(k, k)} {number(metrics[k])}" for k in names
                     if k in metrics and not math.isnan(metrics[k]))


def summary(metrics: Mapping[str, float], run_dir: Path | str) -> str:
    """``train/loss    0.2900  val/loss    0.3120  val/acc    0.9140  (200 steps, max_epochs=10
    reached) -> <run_dir>``."""
    text = metrics_text(metrics, ("train/loss_epoch", "train/acc", "val/loss", "val/acc",
                                  "test/loss", "test/acc"))
    state = ("FAILED" if metrics.get("failed") else
             f"diverged at step {int(metrics.get('diverged_step', 0))}"
             if metrics.get("diverged") else f"{int(metrics.get('steps', 0))} steps")
    if STOP_REASON and not metrics.get("failed"):
        state += f", {STOP_REASON[0]}"
    return f"{text}  ({state}) -> {run_dir}".lstrip()


# TensorBoard's Custom Scalars tab holds the story (STORY_LAYOUT): loss and accuracy, then every
# layer's gradient on one chart; its landing tab is whatever plugin comes first.
STORY_URL = "http://localhost:6006/#custom_scalars"


def tensorboard_command(logdir: Path | str) -> str:
    """``<venv>/bin/tensorboard --logdir <logdir>`` (the TensorBoard next to this Python), and
    the address of the tab that tells the story."""
    exe = Path(sys.executable).parent / "tensorboard"
    return (f"{exe if exe.is_file() else 'tensorboard'} --logdir {logdir}  then open "
            f"{STORY_URL}")


def say(line: str, stream=None) -> None:
    """One of nnref's own lines after a sweep, under nnref's name (Hydra's logging, set up
    for its own messages at that point, would tag it ``[HYDRA]``)."""
    print(f"[nnref] {line}", file=stream or sys.stdout, flush=True)


def remove_run_dir(out: Path, log_dir: str | Path) -> None:
    """Remove the run directory ``out`` (Hydra made it before the task ran) and the folders
    above it, up to ``log_dir``, that are left empty."""
    import shutil

    root = logging.getLogger()
    for handler in list(root.handlers):  # Hydra's train.log handler, which would recreate it
        if (isinstance(handler, logging.FileHandler)
                and Path(handler.baseFilename).is_relative_to(out)):
            root.removeHandler(handler)
            handler.close()
    shutil.rmtree(out, ignore_errors=True)
    for parent in out.parents:
        if parent == Path(log_dir) or not parent.is_relative_to(log_dir):
            break
        try:
            parent.rmdir()
        except OSError:  # not empty: other runs live there
            break


class SweepCallback(Callback):
    """Hydra callback (``conf/hydra/default.yaml``): before a sweep, the folder of an SQLite
    study storage is made (Optuna opens the file before any job directory exists); after it,
    the quick report and the TensorBoard command."""

    def on_multirun_start(self, config, **kwargs) -> None:
        storage = str(config.hydra.sweeper.get("storage") or "")
        if storage.startswith("sqlite:///"):
            Path(storage.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)

    def on_multirun_end(self, config, **kwargs) -> None:
        from nnref.experiment import reporting
        from nnref.experiment.cli import sweep_status

        sweep = Path(config.hydra.sweep.dir)
        SWEEP_FAILURES[:] = sweep_status(sweep)
        try:
            md = reporting.quick_report(sweep)
        except (FileNotFoundError, ValueError, KeyError) as e:
            say(f"no report for {sweep}: {e}", sys.stderr)
        else:
            print(md.read_text().split("\n## Figures")[0], flush=True)  # findings and table
            say(f"report: {md}")
        say(f"inspect it: {tensorboard_command(sweep)}")
        for job, reason in SWEEP_FAILURES:
            say(f"job {job} failed: {reason}", sys.stderr)
        if SWEEP_FAILURES:
            say(f"{len(SWEEP_FAILURES)} of the sweep's jobs failed (the others finished): exit "
                "status 1", sys.stderr)
