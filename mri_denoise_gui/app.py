"""`mri-denoise-gui` entry point; the window itself lives in qt/ (imported only here)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    try:
        from mri_denoise_gui.qt.launch import run
    except ImportError as exc:  # the GUI package is not there yet
        from mri_denoise_gui.cli import main as cli_main
        from mri_denoise_gui.resources import demo_volume_path

        print(f"the GUI is not available ({exc}); showing the demo volume's info", file=sys.stderr)
        return cli_main(["info", str(demo_volume_path())])
    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
