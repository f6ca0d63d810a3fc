"""Dataset readers and the synthetic SYSU-MM01 replica."""
