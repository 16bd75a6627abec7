"""Notebooks 00 and 05, ``train-tiny`` and ``image2npz``: images, folder datasets, labels, the bundled digits, folds."""
