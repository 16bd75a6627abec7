"""Notebook 04, ``infer``, ``eval-topk``, ``image2npz``, ``npz-decode``: preprocessing, runners, inference, scoring."""
