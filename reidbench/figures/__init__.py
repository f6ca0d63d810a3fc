"""Figures of the paper (CMC curves, the margin sweep, loss curves, retrieval examples)
and the HTML report that gathers them; headless (matplotlib's Agg, no pyplot state)."""
