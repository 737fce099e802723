"""Bone-age and sex predictors."""
