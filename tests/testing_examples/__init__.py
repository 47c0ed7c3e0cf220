"""Six custom components written the way a user writes them, without nnref: each module has a
correct version and realistic broken variants that ``nnref.testing`` must reject (see
``tests/test_testing.py`` and the book page ``scripts/docs/testing.md``)."""
