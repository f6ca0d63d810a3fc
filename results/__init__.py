"""Published numbers (paper Table 1) shipped as data."""
