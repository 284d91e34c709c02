"""Ray and torch.distributed: connect, place an actor gang, form process groups."""
