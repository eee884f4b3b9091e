"""Make ultralytics offline, quiet and fast on this machine before it is imported anywhere in training."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from model.offline import configure_offline


def _font_source() -> Path | None:
    try:
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        return path if path.is_file() else None
    except ImportError:
        return None


def prepare_ultralytics(threads: int | None = None) -> None:
    """Offline env vars, a local font (plots otherwise download Arial), no analytics, all CPU threads."""
    configure_offline()
    config_dir = Path(os.environ["YOLO_CONFIG_DIR"])
    font_dir = config_dir / "Ultralytics"
    font_dir.mkdir(parents=True, exist_ok=True)
    src = _font_source()
    if src is not None:
        for name in ("Arial.ttf", "Arial.Unicode.ttf"):
            if not (font_dir / name).exists():
                shutil.copyfile(src, font_dir / name)
    n = threads or os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(n))

    import ultralytics.utils.torch_utils as torch_utils
    from ultralytics.utils import SETTINGS

    SETTINGS.update({"sync": False})
    # ultralytics trains with min(8, cpus - 1) threads: 1 on a 2-core machine. Use them all.
    torch_utils.NUM_THREADS = n
    import torch

    torch.set_num_threads(n)
