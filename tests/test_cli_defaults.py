"""The CLI carries no defaults of its own: an option left out means the typed spec's default, so
`tunepilot data generate` / `train` / `eval` / `export` and the autopilot (which builds the specs in
Python) do the same thing."""

import pytest

from tunepilot.cli import _parser, _spec_args
from tunepilot.tools.dataset import DatasetSpec
from tunepilot.tools.evaluate import EvalSpec
from tunepilot.tools.export import ExportSpec
from tunepilot.tools.train import TrainSpec


def _options(*cmd):
    p = _parser()
    for name in cmd:  # walk down to the sub-command's parser
        p = next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction").choices[name]
    return {a.dest: a.default for a in p._actions if a.dest != "help"}


@pytest.mark.parametrize("cmd, spec", [(("data", "generate"), DatasetSpec), (("train",), TrainSpec),
                                       (("eval",), EvalSpec), (("export",), ExportSpec)])
def test_cli_defaults_are_the_specs(cmd, spec):
    # `data generate --api-fraction` defaulted to 0.5 while DatasetSpec (the autopilot's) says 0.55
    fields = spec.model_fields
    wrong = {k: (v, fields[k].default) for k, v in _options(*cmd).items()
             if k in fields and v is not None and v != fields[k].default and not fields[k].is_required()}
    assert wrong == {}, wrong


def test_data_generate_left_alone_is_the_autopilots_mix():
    args = _parser().parse_args(["data", "generate", "--out", "d"])
    spec = DatasetSpec(**_spec_args(args, ("cmd", "data_cmd", "json")))
    assert spec.api_fraction == DatasetSpec.model_fields["api_fraction"].default == 0.55
