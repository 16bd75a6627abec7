"""``infer``'s host side (notebooks 04-06): OpenCV, set up once.

``cv2()`` imports OpenCV with its own thread pool off (one thread per call): ``infer`` already
decodes and preprocesses one image per decode thread, and OpenCV's pool would fight ONNX Runtime's
threads for the same cores.
"""
from __future__ import annotations


def cv2():
    import cv2 as _cv2

    if _cv2.getNumThreads() != 1:
        _cv2.setNumThreads(1)
    return _cv2
