"""What the X server displays, as a numpy RGB array: XGetImage of the root window on a connection of our own.

A widget's `grab()` renders it again inside the process; reading the root window back from the
X server through libX11 (not through Qt's connection) shows what is really on the screen.
Not `xwd -root`: with windows of several visuals it composes the dump itself and leaves Qt's
transient dialogs black on Xvfb, although the server shows them (XGetImage does).
"""

from __future__ import annotations

import ctypes

import numpy as np

Z_PIXMAP, ALL_PLANES = 2, 0xFFFFFFFF


class _XImage(ctypes.Structure):  # the leading fields of Xlib's XImage (X11/Xlib.h)
    _fields_ = [
        ("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int), ("format", ctypes.c_int),
        ("data", ctypes.POINTER(ctypes.c_ubyte)), ("byte_order", ctypes.c_int), ("bitmap_unit", ctypes.c_int),
        ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int), ("depth", ctypes.c_int),
        ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
        ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong),
    ]


def _xlib():
    x = ctypes.CDLL("libX11.so.6")
    x.XOpenDisplay.restype, x.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x.XDefaultRootWindow.restype, x.XDefaultRootWindow.argtypes = ctypes.c_ulong, [ctypes.c_void_p]
    x.XDisplayWidth.argtypes = x.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    x.XGetImage.restype = ctypes.POINTER(_XImage)
    x.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                            ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x.XFree.argtypes = [ctypes.c_void_p]
    x.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return x


def _channel(pixels: np.ndarray, mask: int) -> np.ndarray:
    shift = (mask & -mask).bit_length() - 1
    return ((pixels & mask) >> shift).astype(np.uint8)


def xgetimage_root(display: bytes | None = None) -> np.ndarray:
    """H x W x 3 uint8 of the whole screen of DISPLAY (a TrueColor screen of 32 bits a pixel, as Xvfb's x24)."""
    x = _xlib()
    dpy = x.XOpenDisplay(display)
    if not dpy:
        raise OSError("XOpenDisplay failed")
    try:
        width, height = x.XDisplayWidth(dpy, 0), x.XDisplayHeight(dpy, 0)
        ptr = x.XGetImage(dpy, x.XDefaultRootWindow(dpy), 0, 0, width, height, ALL_PLANES, Z_PIXMAP)
        if not ptr:
            raise OSError("XGetImage of the root window failed")
        im = ptr.contents
        try:
            if im.bits_per_pixel != 32:
                raise OSError(f"{im.bits_per_pixel} bits per pixel: not read here")
            raw = np.ctypeslib.as_array(im.data, shape=(im.height * im.bytes_per_line,)).copy()
            order = "<u4" if im.byte_order == 0 else ">u4"  # LSBFirst / MSBFirst
            pixels = raw.reshape(im.height, im.bytes_per_line)[:, : im.width * 4].copy().view(order)
            masks = (im.red_mask, im.green_mask, im.blue_mask)
        finally:
            x.XFree(ctypes.cast(im.data, ctypes.c_void_p))
            x.XFree(ctypes.cast(ptr, ctypes.c_void_p))
    finally:
        x.XCloseDisplay(dpy)
    return np.dstack([_channel(pixels, int(m)) for m in masks])


def grab_root() -> tuple[np.ndarray, str]:
    """The whole screen and how it was read (Qt's own root grab only if libX11 cannot be used)."""
    try:
        return xgetimage_root(), "XGetImage(root)"
    except OSError:
        from PyQt6.QtGui import QGuiApplication

        return qimage_rgb(QGuiApplication.primaryScreen().grabWindow(0).toImage()), "QScreen.grabWindow(0)"


def qimage_rgb(image) -> np.ndarray:
    from PyQt6.QtGui import QImage

    image = image.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = image.width(), image.height(), image.bytesPerLine()
    rows = np.frombuffer(image.constBits().asstring(stride * h), np.uint8).reshape(h, stride)
    return rows[:, : w * 3].reshape(h, w, 3)


def save_png(rgb: np.ndarray, path) -> None:
    from PyQt6.QtGui import QImage

    rgb = np.ascontiguousarray(rgb)
    h, w, _ = rgb.shape
    QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy().save(str(path))
