"""The HTTP surface: ``create_app`` and one module per dialect, each only translating."""
