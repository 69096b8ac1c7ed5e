"""Test helpers: an independent damage generator and the storage forms users' scans come in.

``independent`` (with ``fills``, ``lost`` and ``corrupt``) damages clean arrays; ``storage`` turns clean
scans into the dtypes and files users have. See README.md here for the failures they model.
"""
