"""Golden values, shared by the in-process tests and the cross-kernel portability test.

They were computed once (SYSU-MM01 generator version 3, seed 0) and must hold on any x86-64
machine, whatever BLAS kernel or SIMD level; change them only on purpose, with the
generator version.
"""

# synth.content_digest of the tiny and small presets
TINY_DIGEST = "d83317bea3e4ea41dbe06d8e488e758ba8c5f844ca116b1bea78fb78e4118b78"
SMALL_DIGEST = "49f270952dc4400988bafb1ee8c20b3b90d4eded77e7e19592961edb45493a1b"
# content digests of the tiny RegDB and LLCM replicas (their generators' version 1, seed 0)
REGDB_TINY_DIGEST = "479e34fd2406348db9052eeb6a7218d8e8299b2491f01fdbac234fbd275ecdbb"
LLCM_TINY_DIGEST = "abe0fcf3a1695fbaf172d13782a8edaeaa41f880ff91d794af838610d34124a2"
# portability_probe.small_slice_digest: every 8th (camera, ID) folder of small, in memory
SMALL_SLICE_DIGEST = "47b23878cffc1627b16ee67fde9d33fe0cb54712237c2f7bf2b6485d5c485980"

# hog_euclidean on tiny, mean over the 10 seeded trials (percent)
HOG_EUCLIDEAN_TINY = {
    "all-single": {"r1": 27.1875, "r5": 83.125, "r10": 100.0, "mAP": 35.8673672616, "mINP": 28.4876215582},
    "all-multi": {"r1": 53.125, "r5": 84.375, "r10": 100.0, "mAP": 26.7174635785, "mINP": 16.7282490219},
    "indoor-single": {"r1": 35.75, "r5": 100.0, "mAP": 53.4446428571, "mINP": 50.4454365079},
    "indoor-multi": {"r1": 37.5, "r5": 100.0, "mAP": 37.3693660974, "mINP": 23.6147402443},
}
