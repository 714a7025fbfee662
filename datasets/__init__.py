"""Training sets with their mode/class metadata (synthetic mixtures, MNIST family, CIFAR10, CelebA)."""
