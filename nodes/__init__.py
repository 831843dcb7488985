"""The node catalogue: one module per theme. Declarations are torch-free; run functions import torch lazily."""
