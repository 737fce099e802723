"""Mask providers: find the artifacts (lead markers, labels, text) inpainting should remove.

Built-in providers (``radinpaint.registry.get_mask_provider(name, **options)``):

- ``ground-truth``: masks that are already known (phantoms, annotated data, mask files);
- ``markers``: classical detector of lead marker plates (with their rim and blur halo),
  letters, rulers and lines of burned-in text
  (:func:`radinpaint.masks.markers.detect_markers`); the one to use on real radiographs;
- ``hand``: the anatomy (:func:`radinpaint.masks.anatomy.segment_hand`);
- ``ocr``: RapidOCR's text detector (``pip install 'radinpaint[ocr]'``);
- ``learned``: a small U-Net (:mod:`radinpaint.masks.learned`), trained on phantoms only:
  not for real radiographs;
- ``union`` / ``intersection``: combinations (:mod:`radinpaint.masks.combine`).

Every provider written here takes ``dilate=N`` (a margin in pixels).
"""
