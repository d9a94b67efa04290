"""The training configuration is TF-free and declared once: the form and the CLI read it."""

import dataclasses
import subprocess
import sys

from mri_denoise_gui.ml import training_choices
from mri_denoise_gui.ml.training_config import TrainingConfig, defaults, field_info


def test_config_and_choices_import_with_tensorflow_and_keras_blocked(tmp_path):
    code = (
        "import sys\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.modules['keras'] = None\n"
        "from mri_denoise_gui.ml.training_config import TrainingConfig\n"
        "from mri_denoise_gui.cli import build_parser\n"
        f"bad = TrainingConfig(out={str(tmp_path / 'm')!r}, synthetic=True, arch='tiny', loss='nope', patch_size=30).validate()\n"
        "assert set(bad) == {'loss', 'patch_size'}, bad\n"
        "args = build_parser().parse_args(['train', '--synthetic', '--out', 'x', '--patch', '48'])\n"
        "assert args.patch_size == 48 and args.synthetic is True\n"
        "print('ok')\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


def test_every_choice_field_rejects_a_value_outside_its_choices(tmp_path):
    choice_fields = [f.name for f in dataclasses.fields(TrainingConfig) if f.metadata.get("choices")]
    assert {"arch", "loss", "noise_kind", "monitor", "lr_schedule", "noise_weighting", "distribution"} <= set(choice_fields)
    for name in choice_fields:
        bad = TrainingConfig(out=str(tmp_path / "m"), synthetic=True, **{name: "no-such-choice"}).validate()
        assert name in bad and "choose from" in bad[name]


def test_count_fields_say_their_minimum_and_the_output_rule_is_applied(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("not a model")
    bad = TrainingConfig(out=str(tmp_path / "mine"), synthetic=True, epochs=0, batch_size=True,
                         patch_size=8, stream_seed=-1).validate()
    assert bad["epochs"] == bad["batch_size"] == "must be a whole number >= 1"
    assert bad["patch_size"] == "must be a whole number >= 16" and "stream_seed" in bad
    assert "out" in bad  # a folder the app did not make is never replaced
    assert TrainingConfig(out=str(tmp_path / "new"), synthetic=True, stream_seed=None).validate() == {}
    context = TrainingConfig(out=str(tmp_path / "new"), synthetic=True, arch="resunet",
                             arch_options={"context": 1}).validate()
    assert "context_probe" in context["arch_options"]  # 2.5D is a probe: refused before any data loads


def test_defaults_labels_and_help_come_from_the_field_table():
    assert defaults()["epochs"] == 20 and defaults()["variance_range"] == [1e-4, 1e-2]
    assert field_info("monitor")["labels"]["val_ssim_metric"] == "validation SSIM"
    assert field_info("loss")["choices"] == training_choices.LOSSES
    assert field_info("patch_size")["flag"] == "--patch"


def test_every_declared_flag_reaches_the_config_with_its_own_parser(tmp_path):
    """A field with ``cli`` set gets a `train` flag whose value lands in that field (no second list)."""
    from mri_denoise_gui.cli import build_parser

    samples = {"text": "x", "paths": ["a.nii"], "count": "7", "index": "3", "float": "0.5", "unit": "0.25",
               "variance": ["0.001", "0.002"]}
    for f in dataclasses.fields(TrainingConfig):
        kind = f.metadata.get("cli")
        if kind is None:
            continue
        flag = f.metadata["flag"] or "--" + f.name.replace("_", "-")
        value = [] if kind == "switch" else [f.metadata["choices"][-1]] if kind == "choice" else samples[kind]
        args = build_parser().parse_args(["train", flag, *([value] if isinstance(value, str) else value)])
        got = getattr(args, f.name)
        assert got is not None and got != [], f.name
    args = build_parser().parse_args(["train"])
    assert all(getattr(args, f.name) is None for f in dataclasses.fields(TrainingConfig) if f.metadata.get("cli"))
