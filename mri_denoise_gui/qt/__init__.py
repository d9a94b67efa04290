"""The desktop GUI (PyQt6 + pyqtgraph): the only package that imports Qt.

Nothing here imports TensorFlow at module level: the inference worker imports
``mri_denoise_gui.ml.inference`` inside its own thread, after the window is shown.
"""
