"""Registers the deep methods: cmGAN, its ablations, Wu et al.'s four baselines, AGW and CAJ.

Labels are the row names of the paper's Table 1 (``reidbench.paper``). Registering
imports no torch: the factories import the networks only when a method is built.
"""
from __future__ import annotations

from typing import Any

from reidbench.methods.base import Method
from reidbench.methods.deep.config import (AGW_CONFIG, AGW_RULES, ARCH_CONFIG, CMGAN_CONFIG, CMGAN_RULES,
                                           COMMON_CONFIG, COMMON_RULES, WU_CONFIG, WU_RULES, check_cmgan,
                                           check_weights)
from reidbench.registry import register_method

CMGAN_REF = "Dai et al., Cross-Modality Person Re-Identification with Generative Adversarial Training, IJCAI 2018"
WU_REF = "Wu et al., RGB-Infrared Cross-Modality Person Re-Identification, ICCV 2017"
AGW_REF = "Ye et al., Deep Learning for Person Re-identification: A Survey and Outlook, TPAMI 2021"
CAJ_REF = "Ye et al., Channel Augmented Joint Learning for Visible-Infrared Recognition, ICCV 2021"

# name -> (Table 1 label, overrides of the cmGAN defaults)
CMGAN_VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "cmgan": ("cmGAN", {}),
    "cmgan_triplet_only": ("cmGAN (only with triplet loss)", {"beta": 0.0}),
    "cmgan_id_only": ("cmGAN (only with ID predictions)", {"alpha": 0.0}),
    # Not a Table 1 row: the paper's Fig. 5 comparison without the discriminator.
    "cmgan_no_adv": ("cmGAN without discriminator (gamma = 0)", {"gamma": 0.0}),
}
WU_LABELS = {
    "asym_fc": "Asymmetric FC layer network",
    "two_stream": "Two-stream network",
    "one_stream": "One-stream network",
    "zero_padding": "One-stream network (zero-padding)",
}


def _register_cmgan(name: str, label: str, overrides: dict[str, Any]) -> None:
    def factory(config: dict[str, Any]) -> Method:
        from reidbench.methods.deep.cmgan import CmGAN

        return CmGAN(config, name)

    factory.__name__ = name
    register_method(name, label=label, family="deep", reference=CMGAN_REF,
                    config={**COMMON_CONFIG, **CMGAN_CONFIG, **overrides},
                    rules={**COMMON_RULES, **CMGAN_RULES}, check=check_cmgan)(factory)


def _register_wu(arch: str, label: str) -> None:
    def factory(config: dict[str, Any]) -> Method:
        from reidbench.methods.deep.wu2017 import WuBaseline

        return WuBaseline(config, arch)

    factory.__name__ = arch
    register_method(arch, label=label, family="deep", reference=WU_REF,
                    config={**COMMON_CONFIG, **WU_CONFIG, **ARCH_CONFIG[arch]},
                    rules={**COMMON_RULES, **WU_RULES}, check=check_weights)(factory)


def _register_agw() -> None:
    def agw(config: dict[str, Any]) -> Method:
        from reidbench.methods.deep.agw import AGW

        return AGW(config, "agw")

    register_method("agw", label="AGW", family="deep", reference=AGW_REF,
                    config={**COMMON_CONFIG, **AGW_CONFIG}, rules={**COMMON_RULES, **AGW_RULES},
                    check=check_weights)(agw)


for _name, (_label, _overrides) in CMGAN_VARIANTS.items():
    _register_cmgan(_name, _label, _overrides)
for _arch, _label in WU_LABELS.items():
    _register_wu(_arch, _label)
_register_agw()


def _register_caj() -> None:
    """AGW's keys with CAJ's random erasing (p = 0.5, ``ICCV21_CAJ/train_ext.py --rande 0.5``)."""
    def caj(config: dict[str, Any]) -> Method:
        from reidbench.methods.deep.caj import CAJ

        return CAJ(config, "caj")

    register_method("caj", label="CAJ", family="deep", reference=CAJ_REF,
                    config={**COMMON_CONFIG, **AGW_CONFIG, "erase": 0.5}, rules={**COMMON_RULES, **AGW_RULES},
                    check=check_weights)(caj)


_register_caj()
