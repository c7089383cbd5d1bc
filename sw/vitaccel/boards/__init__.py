"""Board configs (contract 3) and the AcceleratorConfig derived from them.

board_configs/<name>.yaml is the one place for board facts; `board_configs/board.schema.json` validates it.
Everything that needs a part string, clock, resource budget or DDR bandwidth (HLS/RTL generators, tcl writers,
estimators, runtime) calls `load_board` / `derive_accelerator_config` here.
"""

from vitaccel.boards.accel import AcceleratorConfig, derive_accelerator_config, parse_overrides
from vitaccel.boards.config import BoardConfig, board_dir, list_boards, load_board

__all__ = [
    "AcceleratorConfig",
    "BoardConfig",
    "board_dir",
    "derive_accelerator_config",
    "list_boards",
    "load_board",
    "parse_overrides",
]
