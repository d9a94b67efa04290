#!/bin/sh
# Retake every README screenshot from the real window, offscreen (run from the project root after
# `make run` or `make test` made .venv). The demo volume and the shipped models; see docs/NOTES-qt.md.
set -e
export QT_QPA_PLATFORM=offscreen
gui=.venv/bin/mri-denoise-gui
out=docs/screenshots
$gui --demo --noise-kind rician --variance 0.0025 --seed 0 --size 1280x800 --screenshot $out/main-window.png
$gui --demo --axis coronal --residual --noise-kind gaussian --variance 0.005 --seed 7 --size 1280x800 \
    --screenshot $out/coronal-residual.png
$gui --demo --compare nlm --compare resources/models/seed-autoencoder --size 1800x820 --screenshot $out/comparison.png
.venv/bin/python $out/make_comparison_shots.py $out
