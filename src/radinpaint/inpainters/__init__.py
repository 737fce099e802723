"""Inpainting backends and the machinery they share.

Each backend lives in its own plugin module and is registered through
``radinpaint_register_inpainters`` like a third-party backend; build one with
:func:`radinpaint.get_inpainter`.
"""
