"""Deep methods: the shared training engine, cmGAN and Wu et al. baselines."""
