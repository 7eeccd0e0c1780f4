"""Files in the real formats, written by the tests: pose stores, SMPL pickles, dataset folders."""
