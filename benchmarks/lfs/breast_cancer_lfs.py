"""Threshold rules for the Wisconsin diagnostic breast cancer data (0 = benign, 1 = malignant).

Written for benchmarks/label_models.py in session 7, before any score was computed and not
revised after: malignant nuclei are larger, more irregular and more concave. The cut-offs are
round numbers on either side of what the literature on this data reports for the two classes
(Street, Wolberg & Mangasarian 1993), not fitted. Radius, perimeter and area measure the same
thing, so several rules are near-copies of each other, as users' rules on related columns are.
"""

from gristmill import threshold_lf

BENIGN = 0
MALIGNANT = 1

big_radius = threshold_lf("mean radius", MALIGNANT, lower=16, name="big_radius")
small_radius = threshold_lf("mean radius", BENIGN, upper=12, name="small_radius")
big_perimeter = threshold_lf("mean perimeter", MALIGNANT, lower=105, name="big_perimeter")
small_perimeter = threshold_lf("mean perimeter", BENIGN, upper=78, name="small_perimeter")
big_area = threshold_lf("mean area", MALIGNANT, lower=800, name="big_area")
small_area = threshold_lf("mean area", BENIGN, upper=450, name="small_area")
rough_texture = threshold_lf("mean texture", MALIGNANT, lower=22, name="rough_texture")
smooth_texture = threshold_lf("mean texture", BENIGN, upper=16, name="smooth_texture")
concave = threshold_lf("mean concave points", MALIGNANT, lower=0.07, name="concave")
convex = threshold_lf("mean concave points", BENIGN, upper=0.03, name="convex")
deep_concavity = threshold_lf("mean concavity", MALIGNANT, lower=0.15, name="deep_concavity")
worst_big = threshold_lf("worst radius", MALIGNANT, lower=20, name="worst_big")
worst_concave = threshold_lf("worst concave points", MALIGNANT, lower=0.16, name="worst_concave")
worst_convex = threshold_lf("worst concave points", BENIGN, upper=0.08, name="worst_convex")
