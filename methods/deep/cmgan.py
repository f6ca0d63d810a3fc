"""cmGAN (Dai et al., IJCAI 2018) with the defaults of deep_methods.md section 4.

Generator: ResNet up to global average pooling (``embedding=gap``, the paper's
4.3) or with an FC 2048->2048 + BN after it (``embedding=fc``, the paper's 3.2),
plus an ID head FC 2048->512, ReLU, FC 512->C. Discriminator: FC 2048->1000,
ReLU, FC 1000->500, ReLU, FC 500->2 on the common feature.

Alternation (``adversary=alternate``): two optimisers; K generator steps, each on
a new batch, descend alpha*l_tri + beta*l_ide - gamma*l_dis with D frozen; then one
discriminator step on a new batch descends d_loss_scale*l_dis on detached features
(d_loss_scale = eta*gamma, Alg. 1 line 13; the paper gives no eta, and eta = 1/gamma,
i.e. d_loss_scale = 1, lets D learn at its stated rate). ``adversary=grl`` instead
trains everything with one optimiser through a gradient-reversal layer
(simultaneous updates, for comparison only).

The common feature is L2-normalised or raw (``normalize``) for the triplet, the
discriminator and the test features alike, so training and test share one geometry.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from reidbench.errors import ReidbenchError
from reidbench.methods.deep.backbones import build_backbone, feature_dim, float32_head
from reidbench.methods.deep.config import CMGAN_EMBEDDINGS, PAIR_REDUCTIONS, check_cmgan
from reidbench.methods.deep.encoding import InputEncoder
from reidbench.methods.deep.losses import cross_modality_triplet, identity_loss, modality_loss
from reidbench.methods.deep.method import DeepMethod, make_optimizer, make_scheduler
from reidbench.methods.deep.task import Amp, Batch, Task
from reidbench.config import coerce_like


class Generator(nn.Module):
    """Image -> feature (and ID logits when the ID loss is used); the task derives the common feature."""

    def __init__(self, backbone: nn.Module, embedding: str, id_hidden: int, num_classes: int | None):
        super().__init__()
        dim = feature_dim(backbone)
        self.encoder = InputEncoder("rgb")
        self.backbone = backbone
        if embedding == "gap":
            self.embedding: nn.Module = nn.Identity()
        elif embedding == "fc":
            self.embedding = nn.Sequential(nn.Linear(dim, dim), nn.BatchNorm1d(dim))
        else:
            raise ReidbenchError(f"unknown embedding '{embedding}' (known: {', '.join(CMGAN_EMBEDDINGS)})")
        self.id_head = None if num_classes is None else nn.Sequential(
            nn.Linear(dim, id_hidden), nn.ReLU(inplace=True), nn.Linear(id_hidden, num_classes))
        self.dim = dim

    def features(self, x: torch.Tensor, modalities: torch.Tensor) -> torch.Tensor:
        """The un-normalised feature (GAP, or the FC embedding), float32 under any autocast: the ID head,
        the triplet, the discriminator and the test features read it."""
        pooled = self.backbone(self.encoder(x, modalities))
        with float32_head(pooled):
            return self.embedding(pooled)

    def forward(self, x: torch.Tensor, modalities: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        feat = self.features(x, modalities)
        with float32_head(feat):
            return feat, (self.id_head(feat) if self.id_head is not None else None)


class Discriminator(nn.Module):
    """The 3-layer modality classifier (widths from sshkhr/cmGAN)."""

    def __init__(self, dim: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, 1000), nn.ReLU(inplace=True), nn.Linear(1000, 500),
                                 nn.ReLU(inplace=True), nn.Linear(500, 2))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """Modality logits in float32 under any autocast (the feature it reads is float32)."""
        with float32_head(feat):
            return self.net(feat)


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, coeff: float) -> torch.Tensor:
        ctx.coeff = coeff
        return x.view_as(x)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.coeff * grad, None


def phase_of(step: int, k_gen: int, schedule: str) -> str:
    """'gen' or 'dis' for a 0-based step of the alternating schedule."""
    if schedule == "k_then_1":
        return "dis" if step % (k_gen + 1) == k_gen else "gen"
    return "gen" if step % k_gen != 0 else "dis"  # Alg. 1 literally, e counting steps


class CmganTask(Task):
    """cmGAN's networks, its two optimisers and the alternating (or GRL) step."""

    columns: ClassVar[tuple[str, ...]] = ("l_ide", "l_tri", "l_gen", "l_dis", "d_acc", "tri_active", "l_total",
                                          "lr_g", "lr_d")

    def __init__(self, cfg: dict[str, Any], num_classes: int, device: torch.device, progress: bool):
        check_cmgan(cfg)
        self.cfg = cfg
        self.alpha, self.beta, self.gamma = float(cfg["alpha"]), float(cfg["beta"]), float(cfg["gamma"])
        self.normalize = bool(coerce_like(False, cfg["normalize"], "normalize"))  # "auto" resolved by the preset
        if cfg["pair_reduction"] not in PAIR_REDUCTIONS:
            raise ReidbenchError(f"pair_reduction must be one of {', '.join(PAIR_REDUCTIONS)} "
                                 f"(set by the preset), got '{cfg['pair_reduction']}'")
        self.pair_factor = 2.0 if cfg["pair_reduction"] == "pair_sum" else 1.0
        self.d_scale = self._d_loss_scale(cfg)
        if self.gamma > 0 and self.d_scale <= 0:
            raise ReidbenchError(f"d_loss_scale must be positive, got {self.d_scale:g}")
        backbone = build_backbone(cfg["backbone"], cfg["weights"], 3, cfg["last_stride"], progress)
        self.generator = Generator(backbone, cfg["embedding"], cfg["id_hidden"],
                                   num_classes if self.beta > 0 else None)
        self.networks = {"generator": self.generator}
        self.discriminator: Discriminator | None = None
        if self.gamma > 0:
            self.discriminator = Discriminator(self.generator.dim)
            self.networks["discriminator"] = self.discriminator
        self.grl = cfg["adversary"] == "grl" and self.discriminator is not None
        steps = int(cfg["steps"])
        if self.grl:
            assert self.discriminator is not None
            opt = make_optimizer([{"params": self.generator.parameters(), "lr": cfg["lr_g"]},
                                  {"params": self.discriminator.parameters(), "lr": cfg["lr_d"]}],
                                 cfg, cfg["lr_g"], device)
            self.optimizers = {"g": opt}
            self.schedulers = {"g": make_scheduler(opt, cfg["lr_schedule"], steps)}
        else:
            n_gen = sum(self._phase(s) == "gen" for s in range(steps))
            self.optimizers = {"g": make_optimizer(self.generator.parameters(), cfg, cfg["lr_g"], device)}
            self.schedulers = {"g": make_scheduler(self.optimizers["g"], cfg["lr_schedule"], n_gen)}
            if self.discriminator is not None:
                self.optimizers["d"] = make_optimizer(self.discriminator.parameters(), cfg, cfg["lr_d"], device)
                self.schedulers["d"] = make_scheduler(self.optimizers["d"], cfg["lr_schedule"], steps - n_gen)
        self.dis_ema: float | None = None
        self.lr_raised_at: int | None = None

    @staticmethod
    def _d_loss_scale(cfg: dict[str, Any]) -> float:
        value = str(cfg["d_loss_scale"]).replace(" ", "")
        if value in ("eta*gamma", "gamma*eta"):
            return float(cfg["eta"]) * float(cfg["gamma"])
        try:
            return float(value)
        except ValueError:
            raise ReidbenchError(f"d_loss_scale must be 'eta*gamma' or a number (set by the preset), "
                                 f"got '{cfg['d_loss_scale']}'") from None

    def _phase(self, step: int) -> str:
        if self.discriminator is None:
            return "gen"
        if self.grl:
            return "joint"
        return phase_of(step, int(self.cfg["k_gen"]), self.cfg["schedule"])

    # -------------------------------------------------------------- training
    def train_step(self, step: int, batch: Batch, nets: Mapping[str, nn.Module],
                   amp: Amp) -> tuple[str, dict[str, torch.Tensor | float]]:
        phase = self._phase(step)
        lrs = self._lrs()
        if phase == "dis":
            values = self._dis_step(batch, nets, amp)
        else:
            values = self._gen_step(batch, nets, amp, joint=phase == "joint")
        return phase, {**values, **lrs}

    def common(self, feat: torch.Tensor) -> torch.Tensor:
        """The common feature the triplet, the discriminator and the test features share."""
        return F.normalize(feat.float(), dim=1) if self.normalize else feat

    def _generator_losses(self, common: torch.Tensor, logits: torch.Tensor | None,
                          batch: Batch) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        out: dict[str, torch.Tensor] = {}
        with torch.set_grad_enabled(torch.is_grad_enabled() and self.alpha > 0):
            # With alpha = 0 the triplet term is still logged, without a graph.
            out["l_tri"], out["tri_active"] = cross_modality_triplet(
                common, batch.labels, batch.modalities, cfg["margin"], cfg["mining"], cfg["squared"],
                reduction=cfg["reduction"])
        gen = self.alpha * out["l_tri"]
        if logits is not None:
            out["l_ide"] = identity_loss(logits, batch.labels, self.pair_factor)
            gen = gen + self.beta * out["l_ide"]
        out["l_gen"] = gen
        return out

    def _gen_step(self, batch: Batch, nets: Mapping[str, nn.Module], amp: Amp,
                  joint: bool) -> dict[str, torch.Tensor]:
        with amp.autocast():
            feat, logits = nets["generator"](batch.images, batch.modalities)
        common = self.common(feat)
        losses = self._generator_losses(common, logits, batch)
        total = losses["l_gen"]
        if self.discriminator is not None:
            if joint:
                # G receives -gamma * dl_dis/df and D receives d_scale * dl_dis/dtheta_D.
                d_logits = nets["discriminator"](_GradReverse.apply(common, self.gamma / self.d_scale))
                l_dis, acc = modality_loss(d_logits, batch.modalities, self.pair_factor)
                total = total + self.d_scale * l_dis
            else:
                # D frozen: no gradient for its parameters, only through it to G.
                self.discriminator.requires_grad_(False)
                d_logits = self.discriminator(common)
                self.discriminator.requires_grad_(True)
                l_dis, acc = modality_loss(d_logits, batch.modalities, self.pair_factor)
                total = total - self.gamma * l_dis
            losses.update(l_dis=l_dis, d_acc=acc)
        amp.step(total, self.optimizers["g"], "g")
        self.schedulers["g"].step()
        return {**{k: v.detach() for k, v in losses.items()}, "l_total": total.detach()}

    def _dis_step(self, batch: Batch, nets: Mapping[str, nn.Module], amp: Amp) -> dict[str, torch.Tensor]:
        # The generator stays in train mode (batch statistics), as in its own steps,
        # so D learns on the feature distribution it is used against.
        with torch.no_grad():
            with amp.autocast():
                feat, logits = nets["generator"](batch.images, batch.modalities)
            common = self.common(feat)
            losses = self._generator_losses(common, logits, batch)
        d_logits = nets["discriminator"](common.detach())
        l_dis, acc = modality_loss(d_logits, batch.modalities, self.pair_factor)
        total = self.d_scale * l_dis
        amp.step(total, self.optimizers["d"], "d")
        self.schedulers["d"].step()
        return {**losses, "l_dis": l_dis.detach(), "d_acc": acc.detach(), "l_total": total.detach()}

    def _lrs(self) -> dict[str, float]:
        g = self.optimizers["g"].param_groups
        out = {"lr_g": float(g[0]["lr"])}
        if self.grl:
            out["lr_d"] = float(g[1]["lr"])
        elif "d" in self.optimizers:
            out["lr_d"] = float(self.optimizers["d"].param_groups[0]["lr"])
        return out

    # ------------------------------------------------------------ monitoring
    def check(self, step: int, values: dict[str, float]) -> None:
        """Raise the generator's rate once (``lr_raise``); stop when the discriminator loss runs away
        (the -gamma*l_dis term is unbounded)."""
        self._maybe_raise_lr(step, values)
        limit = float(self.cfg["dis_diverge"])
        if "l_dis" not in values:
            return
        v = values["l_dis"]
        self.dis_ema = v if self.dis_ema is None else 0.9 * self.dis_ema + 0.1 * v
        if limit > 0 and self.dis_ema > limit:
            raise ReidbenchError(
                f"cmGAN discriminator loss diverged at step {step} (running mean l_dis = {self.dis_ema:.3g} "
                f"> dis_diverge = {limit:g}; chance is {self.pair_factor:g} ln 2 = "
                f"{self.pair_factor * math.log(2):.2f}); lower gamma or lr_g, or raise dis_diverge")

    def _maybe_raise_lr(self, step: int, values: dict[str, float]) -> None:
        """The paper's 4.4: the first logged step whose l_tri is below ``lr_raise_below`` multiplies the
        generator's rate by ``lr_raise`` for the rest of training. Read from the host values of each
        log flush, so it adds no device sync."""
        factor = float(self.cfg["lr_raise"])
        if factor == 1.0 or self.lr_raised_at is not None or "l_tri" not in values:
            return
        if values["l_tri"] >= float(self.cfg["lr_raise_below"]):
            return
        self.lr_raised_at = step
        group = self.optimizers["g"].param_groups[0]  # the generator's (GRL: D is group 1)
        group["lr"] *= factor
        scheduler = self.schedulers["g"]
        scheduler.base_lrs[0] *= factor

    def extra_state(self) -> dict[str, Any]:
        return {"dis_ema": self.dis_ema, "lr_raised_at": self.lr_raised_at}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.dis_ema = state.get("dis_ema")
        self.lr_raised_at = state.get("lr_raised_at")

    # --------------------------------------------------------------- testing
    def embed(self, images: torch.Tensor, modalities: torch.Tensor, n_rgb: int) -> torch.Tensor:
        return self.common(self.generator.features(images, modalities))

    def describe(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "feature": f"{c['embedding']} ({self.generator.dim}-d), " +
                       ("L2-normalised (as in training), Euclidean = cosine ranking" if self.normalize
                        else "raw (as in training), Euclidean"),
            "triplet": {"margin": c["margin"], "mining": c["mining"], "squared": c["squared"],
                        "normalize": self.normalize, "reduction": c["reduction"],
                        "pairs": "cross-modality only, both anchor directions pooled",
                        "scope": "mined per rank (per process batch)"},
            # eta as Alg. 1 line 13 reads this scale (d_loss_scale = eta * gamma)
            "weights": {"alpha": self.alpha, "beta": self.beta, "gamma": self.gamma, "d_loss_scale": self.d_scale,
                        "eta": self.d_scale / self.gamma if self.gamma else None},
            "pair_reduction": c["pair_reduction"] + (" (eqs. 1 and 6 as written: twice the per-image mean)"
                                                     if self.pair_factor == 2 else " (per-image mean)"),
            "adversary": "none (gamma = 0)" if self.discriminator is None else
            ("gradient reversal, one optimiser" if self.grl else
             f"alternating, {c['schedule']}, k_gen={c['k_gen']}, D step on a new batch with detached features, "
             "generator in train mode during D steps") + "; D reads the common feature",
            "id_head": None if self.generator.id_head is None else f"{self.generator.dim}->{c['id_hidden']}->C",
            "optimizers": {"type": c["optimizer"], "momentum": c["momentum"], "weight_decay": c["weight_decay"],
                           "lr_g": c["lr_g"], "lr_d": c["lr_d"] if self.discriminator is not None else None,
                           "lr_schedule": c["lr_schedule"],
                           "lr_raise": "off" if float(c["lr_raise"]) == 1.0 else
                           f"x{c['lr_raise']:g} for the generator once l_tri < {c['lr_raise_below']:g} "
                           f"(raised at step {self.lr_raised_at})"},
            "backbone": {"name": c["backbone"], "weights": c["weights"], "last_stride": c["last_stride"],
                         "input": "RGB 3-channel, IR replicated, ImageNet mean/std"},
        }


class CmGAN(DeepMethod):
    """cmGAN and its ablations (the ablation is only a config: alpha, beta, gamma)."""

    preset_values: ClassVar[dict[str, dict[str, Any]]] = {
        # The paper's rates; eqs. 1, 2 and 6 as written (sums). Decided: eta = 1/gamma (the paper gives
        # no eta; D then steps at its stated rate, above G's, as the paper intends). Optimiser, feature
        # normalisation and the triplet's reduction: the best point of CARD.md's grid E at these rates.
        "paper": {"lr_g": 1e-4, "lr_d": 1e-3, "normalize": False, "d_loss_scale": "1", "pair_reduction": "pair_sum",
                  "optimizer": "sgd", "reduction": "sum"},
        # Chosen on the validation identities of the embedded default (CARD.md, grids A-C).
        "cpu": {"lr_g": 1e-2, "lr_d": 1e-3, "normalize": True, "d_loss_scale": "1", "pair_reduction": "pair_sum",
                "optimizer": "sgd", "reduction": "mean"},
    }

    def build_task(self, config: dict[str, Any], num_classes: int, device: torch.device, progress: bool) -> Task:
        return CmganTask(config, num_classes, device, progress)
