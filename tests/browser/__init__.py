"""Helpers of tests/test_browser.py: a JupyterLab server of the course's venv, and a notebook driven in Chromium.

`lab` starts and stops the server (loopback, a port the OS picks, a random
token, a private copy of the notebooks); `notebook` opens a notebook in a
Playwright page, runs all its cells and reads what a learner would see.
Nothing here imports Playwright at import time, so pytest can collect the
test and skip it with one sentence on a machine without a browser.
"""
