"""Lyra model training (PRODUCT.md §5): snapshots in, ONNX models + contracts + reports out."""
