"""AE vs VAE on Fashion-MNIST: the reusable library behind the DVC stages in ``stages/``."""
