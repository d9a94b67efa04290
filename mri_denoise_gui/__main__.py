"""`python -m mri_denoise_gui` starts the GUI, like the `mri-denoise-gui` entry point."""

from mri_denoise_gui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
