"""Stage 0, shared by every notebook and command: errors, atomic writes, text reading, settings, metrics, numbers, the host CPU, ONNX Runtime sessions."""
