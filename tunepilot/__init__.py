"""tunepilot: an autopilot for LoRA/QLoRA fine-tuning of small code and agentic LLMs."""

__version__ = "0.1.0"


class TunepilotError(Exception):
    """An error meant for the user: printed as one line by the CLI, no traceback."""
