"""reidbench: cross-modality (RGB-IR) person re-identification benchmark."""
