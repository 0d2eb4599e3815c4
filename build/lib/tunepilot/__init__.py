"""tunepilot: an autopilot for LoRA/QLoRA fine-tuning of small code and agentic LLMs."""

__version__ = "0.1.0"


class TunepilotError(Exception):
    """An error meant for the user: printed as one line by the CLI, no traceback."""


def _quiet_third_party() -> None:
    import logging

    # bitsandbytes tries to fetch an optional CPU kernel from a hub at import and warns when it can't.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)


_quiet_third_party()
