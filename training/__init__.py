"""Training, evaluation and data loading for sqmy engines."""
