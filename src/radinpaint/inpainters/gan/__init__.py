"""radinpaint's own inpainting GAN."""
