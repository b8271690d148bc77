"""A QR code as inline SVG, drawn on the server (no image service ever sees the otpauth:// URI
and its secret). One <path>, no style attributes, no scripts: fits the page's CSP and is small
(a few kilobytes) on slow links."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import qrcode
import qrcode.constants
from markupsafe import Markup
from qrcode.image.svg import SvgPathImage

SVG_NS = "http://www.w3.org/2000/svg"


def qr_svg(data: str, *, label: str) -> Markup:
    """``data`` as an accessible inline <svg> (``label``: what a screen reader says)."""
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=4,
                       image_factory=SvgPathImage)
    qr.add_data(data)
    qr.make(fit=True)
    image = qr.make_image()
    root = image.get_image()
    # The page's CSS sizes it; a white square behind the modules keeps it scannable in any
    # theme (scanners need the quiet zone light).
    for attribute in ("width", "height", "xmlns"):  # xmlns: ElementTree writes it itself
        root.attrib.pop(attribute, None)
    size = root.get("viewBox", "0 0 0 0").split()[2]
    root.set("class", "qr-code")
    root.set("role", "img")
    root.set("aria-label", label)
    root.set("shape-rendering", "crispEdges")
    background = ET.Element(f"{{{SVG_NS}}}rect", width=size, height=size, fill="#ffffff")
    root.insert(0, background)
    for element in root.iter():
        element.attrib.pop("id", None)  # no ids that could clash with the page's
    ET.register_namespace("", SVG_NS)
    return Markup(ET.tostring(root, encoding="unicode"))
