"""reidbench: cross-modality (RGB-IR) person re-identification benchmark (SYSU-MM01, cmGAN Table 1)."""
from reidbench.evaluation import Metrics, distance_matrix, evaluate, evaluate_features, evaluate_galleries
from reidbench.registry import create_method, register_method

__all__ = ["Metrics", "create_method", "distance_matrix", "evaluate", "evaluate_features",
           "evaluate_galleries", "register_method"]
