"""Tool: merge a LoRA adapter, convert to GGUF, quantize, check templates, verify in llama.cpp.

    tunepilot export --adapter out/a1/adapter --quant q8_0,q4_k_m --verify 10 --out out/a1/export
    tunepilot export --adapter out/a1/adapter --ladder --out out/a1/export    # seed 004's quant ladder

Pipeline (seed 004): merge (`merge_and_unload`; a QLoRA adapter merges into the base loaded in
the device's precision, bf16 or fp32, i.e. de-quantized) -> GGUF f16 with llama.cpp's converter -> each quant level with llama.cpp's
quantizer -> the adapter alone as a GGUF LoRA -> Ollama Modelfile -> template round trip on golden
conversations (training render = GGUF's embedded template = Modelfile TEMPLATE) -> every GGUF
reloaded in llama.cpp and scored on test items by the same evaluator as the HF model (merged), in
a subprocess each so memory is the model's own. With `ladder`, start at Q4_K_M and step up to
Q5_K_M, then Q8_0, while success drops more than `max_success_drop` below the merged HF model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunepilot import TunepilotError
from tunepilot.atomic import write_json
from tunepilot.models import DEFAULT_MODEL
from tunepilot.outputs import claim_dir, replace_dir

LADDER = ["q4_k_m", "q5_k_m", "q8_0"]  # seed 004: start small, step up while quality drops too much
EXPORT_MARKERS = ("export_report.json", "merged", "merged.part")  # an --out an earlier export wrote


class ExportSpec(BaseModel):
    """One export. Fields map to `tunepilot export` flags."""

    model_config = ConfigDict(extra="forbid")

    adapter: Path | None = None  # --adapter: LoRA/QLoRA adapter; None exports --model as is
    model: str = DEFAULT_MODEL  # --model: the adapter's base (embedded name, HF id or folder)
    out: Path  # --out: export folder
    quants: list[str] = ["q8_0", "q4_k_m"]  # --quant: levels to make and verify
    ladder: bool = False  # --ladder: q4_k_m -> q5_k_m -> q8_0, stop at the first within the margin
    verify: int = Field(10, ge=0, le=100_000)  # --verify: test items scored per model in llama.cpp (0: no verification)
    data: Path | None = None  # --data: dataset whose test split verifies (default: the adapter's training data)
    max_success_drop: float = Field(0.05, ge=0, le=1)  # allowed success loss of a quant vs the merged model
    reference_success: float | None = Field(None, ge=0, le=1)  # merged model's success, already measured on
    # the same items (the agent's evaluation): skips re-scoring the merged model
    lora_gguf: bool = True  # also write the adapter alone as a GGUF LoRA
    verify_http: bool = True  # --no-verify-http: skip scoring the chosen GGUF through `tunepilot serve` (a real
    # server on 127.0.0.1, the openai client, the same items; the latency a client sees)
    system: str | None = None  # --system: SYSTEM line of the Modelfile
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # --precision of the merge: by what the device
    # can do (tunepilot/precision.py); the GGUF is written in f16 and quantized from there either way
    ollama: bool = False  # --ollama: also `ollama create` the model (the agent does it only after approval)
    ollama_name: str | None = None  # default: tunepilot-<parent folder>
    trust_remote_code: bool = False

    @field_validator("quants")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from tunepilot.tools.llamacpp import QUANTS

        bad = [q for q in v if q.lower() not in QUANTS or q.lower() == "f16"]
        if bad:
            raise ValueError(f"unknown quant level {bad[0]!r}; choose from q8_0, q4_k_m, q5_k_m")
        return [q.lower() for q in v]


class ExportReport(BaseModel):
    out: str
    merged: str
    files: dict[str, dict]  # name -> {path, mb}
    template_check: dict
    modelfile: str
    ollama: dict  # {"created": bool, "command": str}
    verification: dict[str, dict] = {}  # "hf" and each quant -> success, latency, memory, failures
    chosen: str | None = None  # the quant level to deploy
    ladder: list[dict] = []  # each ladder step with its numbers and why it stopped or went on
    llama_cpp_python: str
    precision: str | None = None  # the dtype of the merge and why


def export(spec: ExportSpec, log: Callable[[str], None] = lambda msg: None) -> ExportReport:
    from tunepilot.tools import llamacpp
    from tunepilot.tools.modelfile import (
        embedded_template,
        load_golden,
        modelfile_template,
        role_wrappers,
        roundtrip_check,
        write_modelfile,
    )

    out = claim_dir(spec.out, "export", EXPORT_MARKERS)  # new, empty, or an earlier export (files rewritten)
    out.mkdir(parents=True, exist_ok=True)
    data = spec.data or _training_data(spec.adapter)
    if spec.verify and data is None:
        raise TunepilotError("--verify needs test items: pass --data DIR (or export an adapter trained by tunepilot)")

    log("merging the adapter into the base model")
    merged, tok, precision = merge(spec, out / "merged")
    log(f"merged in {precision.reason}")
    files: dict[str, dict] = {}

    log("converting to GGUF f16 (llama.cpp converter)")
    f16 = llamacpp.convert_hf(merged, out / "model-f16.gguf")
    files["f16"] = _file(f16)
    quants = LADDER if spec.ladder else spec.quants
    for q in quants:
        log(f"quantizing to {q.upper()}")
        files[q] = _file(llamacpp.quantize(f16, out / f"model-{q}.gguf", q))
    if spec.lora_gguf and spec.adapter:
        log("converting the adapter alone to a GGUF LoRA")
        from tunepilot.models import resolve_model

        files["lora"] = _file(llamacpp.convert_lora(Path(spec.adapter), Path(resolve_model(spec.model)),
                                                    out / "adapter-f16.gguf"))

    # template round trip: the training render, the GGUF's embedded template, the Modelfile TEMPLATE
    render = _training_render(tok)
    wrappers = role_wrappers(render)
    tmpl = modelfile_template(wrappers)
    check = roundtrip_check(render, embedded_template(f16), tmpl, load_golden())
    if not check.ok:
        log("template round trip FAILED: the exported model would be prompted differently from training")

    report = ExportReport(out=str(out), merged=str(merged), files=files, template_check=check.model_dump(mode="json"),
                          modelfile="", ollama={}, llama_cpp_python=llamacpp.LLAMA_CPP_PYTHON,
                          precision=precision.reason)
    if spec.verify:
        if spec.reference_success is None:
            log(f"verifying the merged HF model on {spec.verify} items")
            report.verification["hf"] = _verify({"model": str(merged)}, data, spec.verify, out / "verify-hf.json")
        else:
            report.verification["hf"] = {"success_rate": spec.reference_success, "runtime": "transformers",
                                         "n": spec.verify, "source": "given (the run's evaluation)"}
        ref = report.verification["hf"]["success_rate"]
        for q in quants:
            log(f"verifying {q.upper()} in llama.cpp")
            v = _verify({"gguf": Path(files[q]["path"])}, data, spec.verify, out / f"verify-{q}.json")
            report.verification[q] = v
            drop = ref - v["success_rate"]
            ok = drop <= spec.max_success_drop
            if spec.ladder:
                report.ladder.append({"quant": q, "success_rate": v["success_rate"], "hf_success_rate": ref,
                                      "drop": round(drop, 4), "within_margin": ok,
                                      "why": f"success {v['success_rate']:.0%} vs merged {ref:.0%}: "
                                             + ("within" if ok else "beyond") + f" the {spec.max_success_drop:.0%} margin"})
                if ok:
                    report.chosen = q
                    break
        if spec.ladder and report.chosen is None:
            report.chosen = LADDER[-1]  # every level lost too much: the most faithful one, and the report says so
        elif not spec.ladder:
            within = [q for q in quants if ref - report.verification[q]["success_rate"] <= spec.max_success_drop]
            report.chosen = min(within, key=lambda q: files[q]["mb"]) if within else None
    else:
        report.chosen = quants[0]

    target = report.chosen or quants[0]
    if spec.verify and spec.verify_http:
        from tunepilot.tools.serve import Server

        log(f"verifying {target.upper()} through tunepilot serve (HTTP, openai client)")
        with Server(Path(files[target]["path"]), log=out / "serve.log") as url:
            report.verification["http"] = _verify({"endpoint": url}, data, spec.verify, out / "verify-http.json") | {
                "quant": target}
    stops = [s for s in (wrappers.assistant_suffix.strip(), tok.eos_token) if s]
    report.modelfile = write_modelfile(out / "Modelfile", Path(files[target]["path"]).name, tmpl, sorted(set(stops)),
                                       spec.system, {"temperature": 0})
    name = spec.ollama_name or _ollama_name(out)
    report.ollama = {"created": False, "command": f"ollama create {name} -f {out / 'Modelfile'}"}
    if spec.ollama:  # only when asked: the agent creates the Ollama model in deploy, after a person's approval
        report.ollama = ollama_create(name, out / "Modelfile")
    write_json(out / "export_report.json", report.model_dump(mode="json"))
    return report


def merge(spec: ExportSpec, dest: Path):
    """Base + adapter -> a plain HF folder (safetensors in the device's precision, tokenizer, the model's
    chat template). Returns (folder, tokenizer, Precision)."""
    from transformers import AutoModelForCausalLM

    from tunepilot.models import load_tokenizer, resolve_model
    from tunepilot.precision import choose_precision

    path = resolve_model(spec.model)
    tok = load_tokenizer(path, spec.trust_remote_code)
    precision = choose_precision(spec.precision)  # fp32 on a CPU without native bf16
    # never 4-bit: a QLoRA adapter merges into the de-quantized base
    model = AutoModelForCausalLM.from_pretrained(path, dtype=precision.torch_dtype,
                                                 trust_remote_code=spec.trust_remote_code)
    if spec.adapter:
        from peft import PeftModel

        if not (Path(spec.adapter) / "adapter_config.json").exists():
            raise TunepilotError(f"--adapter {spec.adapter}: no adapter_config.json (train one with `tunepilot train`)")
        model = PeftModel.from_pretrained(model, str(spec.adapter)).merge_and_unload()
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    replace_dir(tmp, dest)
    return dest, tok, precision


def _training_render(tok) -> Callable[[list[dict], bool], str]:
    """Render exactly as training did (tools.train.training_template, else the model's own)."""
    from tunepilot.tools.train import training_template

    template = training_template(tok) or tok.chat_template

    def render(messages: list[dict], add_generation_prompt: bool) -> str:
        return tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                       add_generation_prompt=add_generation_prompt)

    return render


def _verify(source: dict, data: Path, n: int, out: Path) -> dict:
    """The evaluator in its own process (tools/child.py): the numbers (and peak memory) are that model's alone."""
    from tunepilot.tools.child import call
    from tunepilot.tools.evaluate import EvalResult, EvalSpec

    rep = call("tunepilot.tools.evaluate:evaluate", EvalSpec(**source, data=data, limit=n, general_probe=False), EvalResult,
               out=out)
    keys = ("success_rate", "tool_call_accuracy", "tag_wellformed_rate", "failures", "latency_s", "tokens_per_s",
            "peak_rss_mb", "model_memory_mb", "n", "runtime", "per_role")
    return {k: getattr(rep, k) for k in keys}


def _training_data(adapter: Path | None) -> Path | None:
    if adapter is None:
        return None
    cfg = Path(adapter).parent / "training_config.json"
    if cfg.exists():
        data = json.loads(cfg.read_text()).get("data")
        if data and (Path(data) / "test.jsonl").exists():
            return Path(data)
    return None


def _file(path: Path) -> dict:
    return {"path": str(path), "mb": round(path.stat().st_size / 2**20, 1)}


def ollama_create(name: str, modelfile: Path) -> dict:
    """`ollama create NAME -f Modelfile` when the ollama binary exists; what happened, for the report."""
    command = f"ollama create {name} -f {modelfile}"
    if not shutil.which("ollama"):
        return {"created": False, "command": command, "output": "ollama not installed here"}
    r = subprocess.run(["ollama", "create", name, "-f", str(modelfile)], cwd=modelfile.parent, capture_output=True,
                       text=True)
    return {"created": r.returncode == 0, "command": command, "output": (r.stderr or r.stdout)[-500:]}


def _ollama_name(out: Path) -> str:
    return "tunepilot-" + "".join(c if c.isalnum() or c in "-_." else "-" for c in out.resolve().parent.name.lower())


def _atomic_json(path: Path, obj) -> None:
    write_json(path, obj)
