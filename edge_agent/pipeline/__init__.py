"""Per-camera pipeline: source -> preprocess -> models -> calibrate -> smooth -> consensus -> events."""
