"""Hand-crafted features (HOG, LOMO) and cross-modality matchers."""
