"""Mask providers: find the artifacts (lead markers, labels, text) inpainting should remove."""
