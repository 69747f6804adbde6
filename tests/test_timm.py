"""`--model timm:NAME`: timm models with spe's host and pool in every attention slot."""
from __future__ import annotations

import sys

import pytest

from conftest import assert_usage_error, run_spe
from spe_analysis.models import timm_adapter
from spe_analysis.attention import SE, SPEM
from spe_analysis.models import make_model
from spe_analysis.pooling import MixPool
from spe_analysis.records import load_records

timm = pytest.importorskip("timm")


def test_every_attention_slot_holds_the_spe_host_with_the_requested_pool():
    # seresnet18 brings its own SE blocks; every one must be replaced by spe's host.
    model = make_model("timm:seresnet18", num_classes=10, in_channels=1, attention="spem", pool="mix",
                       alpha=0.5, beta=-0.25)
    blocks = [m for m in model.modules() if isinstance(m, timm.models.resnet.BasicBlock)]
    assert len(blocks) == 8
    assert all(isinstance(block.se, SPEM) for block in blocks)
    assert all(isinstance(block.se.pool, MixPool) and (block.se.pool.alpha, block.se.pool.beta) == (0.5, -0.25)
               for block in blocks)
    assert not any(isinstance(m, timm.layers.SEModule) for m in model.modules())
    hosts = [m for m in make_model("timm:efficientnet_b0", attention="se", pool="max").modules()
             if isinstance(m, (SE, timm.layers.SqueezeExcite))]
    assert hosts and all(isinstance(m, SE) for m in hosts)  # through se_layer


def test_without_attention_the_parameter_count_is_timms_own():
    ours = make_model("timm:resnet18", num_classes=10, in_channels=1, attention="none")
    theirs = timm.create_model("resnet18", num_classes=10, in_chans=1)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def test_spe_train_with_a_timm_model_records_its_name_and_parameter_count(tmp_path):
    result = run_spe("train", "--model", "timm:resnet18", "--attention", "se", "--pool", "mix", "--alpha", "0.5",
                     "--beta", "0.5", "--dataset", "digits", "--train-subset", "64", "--epochs", "1",
                     "--out", tmp_path)
    assert result.code == 0, result.stderr
    record, = load_records(tmp_path)
    plain = timm.create_model("resnet18", num_classes=10, in_chans=1)  # timm's own, without attention
    # By hand: an SE host after each of resnet18's 8 basic blocks (2 per stage of C = 64, 128,
    # 256, 512 channels): 1x1 convolutions C -> h -> C with biases, h = max(C // 16, 4);
    # 2 * (580 + 2184 + 8464 + 33312) = 89,080 parameters; the mix pool has none.
    attention = sum(2 * (2 * c * max(c // 16, 4) + max(c // 16, 4) + c) for c in (64, 128, 256, 512))
    assert attention == 89_080
    assert record["status"] == "ok" and record["config"]["model"] == "timm:resnet18"
    assert record["metrics"]["parameters"] == sum(p.numel() for p in plain.parameters()) + attention


@pytest.mark.parametrize("model, fragment", [("timm:not-a-model", "unknown timm model"),
                                             ("timm:vit_tiny_patch16_224", "no attention slot"),
                                             ("timm:convnext_atto", "no attention slot")])
def test_bad_timm_models_exit_2_with_one_line(tmp_path, model, fragment):
    assert_usage_error(run_spe("train", "--model", model, "--out", tmp_path), fragment)
    assert_usage_error(run_spe("sweep", "--model", model, "--alpha-grid", "1", "--beta-grid", "1",
                               "--out", tmp_path), fragment)


def test_without_timm_a_timm_model_exits_2_with_the_install_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # as if timm were not installed
    timm_adapter.attention_slot.cache_clear()
    result = run_spe("train", "--model", "timm:resnet18", "--out", tmp_path)
    timm_adapter.attention_slot.cache_clear()
    assert_usage_error(result, 'pip install -e ".[timm]"')
