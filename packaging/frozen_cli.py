"""Entry script of the frozen `mri-denoise` command line (a second executable in the app folder)."""

from mri_denoise_gui.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
