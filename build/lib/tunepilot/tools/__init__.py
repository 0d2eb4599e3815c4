"""Typed tools the planner calls: dataset, train, evaluate (one file each)."""

import tunepilot  # noqa: F401  (first: quiets third-party import-time noise)
