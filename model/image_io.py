"""Turning uploaded bytes into an RGB picture safely: type from magic numbers, limits, EXIF, draft decoding.

Large phone photos are decoded with JPEG draft mode (the DCT scales by 1/2, 1/4 or 1/8 while decoding),
so a 12-MP photo costs a fraction of a full decode and arrives at about the size the models need.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageOps

from model.errors import (
    EmptyImage,
    ImageTooLarge,
    ImageTooManyPixels,
    UnreadableImage,
    UnsupportedImageType,
)
from model.preprocess import to_rgb

ImageType = Literal["jpeg", "png", "webp", "heif"]
CONTENT_TYPES: dict[ImageType, str] = {
    "jpeg": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "heif": "image/heif",
}
_PIL_FORMATS: dict[ImageType, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heif": "HEIF"}
# ISO-BMFF brands of HEIC/HEIF stills (the iPhone's default camera format); not AVIF, not video.
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
# Only JPEG decodes at a reduced size (draft); the others decode every pixel first, so they get a lower limit.
FULL_DECODE: frozenset[ImageType] = frozenset({"png", "webp", "heif"})


@dataclass(frozen=True)
class ImageLimits:
    """What a single photo may weigh: bytes on the wire and pixels once decoded."""

    max_bytes: int = 25 * 1024 * 1024
    max_pixels: int = 50_000_000
    # PNG, WebP and HEIF have no reduced-size decode: every pixel is in memory (4 bytes each) before resizing.
    max_full_decode_pixels: int = 24_000_000
    # Decode to about this many pixels on the long side (the models' input size times a small factor).
    target_side: int = 960


@dataclass(frozen=True)
class DecodedImage:
    """An upright RGB picture at working scale, with what was learnt about the original file."""

    image: Image.Image
    kind: ImageType
    original_size: tuple[int, int]
    sha256: str
    byte_size: int

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.kind]

    @property
    def scale(self) -> float:
        """Original pixels per working pixel (>= 1 when the photo was decoded at reduced scale)."""
        return self.original_size[0] / self.image.width if self.image.width else 1.0


def mebibytes(n: int) -> str:
    """A byte count as limits are read: 25 MiB is "25 MB", not "26.2 MB"."""
    value = n / (1024 * 1024)
    return f"{value:.0f} MB" if value >= 10 or value == int(value) else f"{value:.1f} MB"


def configure_pillow(max_pixels: int) -> None:
    """Set Pillow's bomb guard to our limit: it refuses twice that on open; our header check the rest."""
    Image.MAX_IMAGE_PIXELS = max_pixels


def sniff_type(data: bytes) -> ImageType | None:
    """The image type told by the first bytes, whatever the file is called; None if not one we accept."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIF_BRANDS:
        return "heif"
    return None


def _heif_opener() -> bool:
    """Register pillow-heif's HEIF decoder with Pillow once; False when it is not installed."""
    try:
        import pillow_heif
    except ImportError:
        return False
    if "HEIF" not in Image.OPEN:
        pillow_heif.register_heif_opener(thumbnails=False)
    return True


def image_size(data: bytes, limits: ImageLimits) -> tuple[ImageType, int, int]:
    """Type and declared size of a photo from its header alone, refusing what is over the limits."""
    kind = _check_kind(data, limits)
    im = _open(data, kind, limits)
    width, height = im.size
    _check_pixels(kind, width, height, limits)
    return kind, width, height


def _check_kind(data: bytes, limits: ImageLimits) -> ImageType:
    if not data:
        raise EmptyImage("the photo is empty (0 bytes); choose the photo again and re-upload it")
    if len(data) > limits.max_bytes:
        raise ImageTooLarge(
            f"the photo is {mebibytes(len(data))}, over the limit of {mebibytes(limits.max_bytes)}; "
            "send a smaller photo (the phone's default camera setting is fine)"
        )
    kind = sniff_type(data)
    if kind is None:
        raise UnsupportedImageType(
            f"the file is {_describe(data)}, whatever its name says; send a JPEG, PNG, WebP or HEIC photo"
        )
    if kind == "heif" and not _heif_opener():
        raise UnsupportedImageType(
            "HEIC photos are not enabled on this server (pillow-heif is not installed); send a JPEG"
        )
    return kind


def _open(data: bytes, kind: ImageType, limits: ImageLimits) -> Image.Image:
    try:
        # Image.open reads the header only; nothing is decoded until load().
        return Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[kind]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's own guard (see configure_pillow) fired on the header: an error, or a warning turned error.
        raise _too_many_pixels(None, limits) from exc
    except (OSError, SyntaxError, ValueError, RuntimeError) as exc:
        raise UnreadableImage(
            f"the {kind.upper()} photo cannot be read ({exc}); take or export it again"
        ) from exc


def _check_pixels(kind: ImageType, width: int, height: int, limits: ImageLimits) -> None:
    if width * height > limits.max_pixels:
        raise _too_many_pixels((width, height), limits)
    if kind in FULL_DECODE and width * height > limits.max_full_decode_pixels:
        raise ImageTooManyPixels(
            f"the {kind.upper()} photo is {width}×{height} pixels, over the limit of "
            f"{limits.max_full_decode_pixels / 1e6:.0f} megapixels for {kind.upper()}; "
            "send it as a JPEG, or scale it down"
        )
    if width < 1 or height < 1:
        raise UnreadableImage("the photo has no pixels; take it again")


def _describe(data: bytes) -> str:
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "a GIF"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "a TIFF"
    if data[:2] == b"BM":
        return "a BMP"
    if data[:4] == b"%PDF":
        return "a PDF"
    return "not an image we recognise"


def decode_image(data: bytes, limits: ImageLimits, target_side: int | None = None) -> DecodedImage:
    """Validate and decode one uploaded photo into an upright RGB picture near ``target_side`` pixels."""
    kind = _check_kind(data, limits)
    side = target_side or limits.target_side
    im = _open(data, kind, limits)
    width, height = im.size
    _check_pixels(kind, width, height, limits)
    if getattr(im, "is_animated", False) and getattr(im, "n_frames", 1) > 1:
        raise UnsupportedImageType("animated images are not accepted; send a single still photo")
    try:
        if kind == "jpeg" and max(width, height) > side:
            # Draft keeps the result at least as large as asked, so boxes stay sharp enough.
            im.draft("RGB", (side, side))
        im.load()
        orientation = int(im.getexif().get(0x0112, 1) or 1)
        factor = max(width, height) // (side * 2)
        if kind in FULL_DECODE and factor >= 2:
            # Shrink the full decode at once (box filter) so the copies below are small: memory, not speed.
            exif = im.getexif()
            im = im.reduce(factor)
            im.getexif().update(exif)
        upright = ImageOps.exif_transpose(im)
        rgb = to_rgb(upright)
    except Image.DecompressionBombError as exc:
        raise _too_many_pixels((width, height), limits) from exc
    except (OSError, SyntaxError, ValueError, RuntimeError) as exc:
        raise UnreadableImage(
            f"the {kind.upper()} photo is damaged or truncated ({exc}); take or export it again"
        ) from exc
    if max(rgb.size) > side * 2:
        rgb.thumbnail((side, side), Image.Resampling.BILINEAR)
    # Orientations 5-8 turn the picture a quarter: the upright original is height x width.
    original = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return DecodedImage(
        image=rgb,
        kind=kind,
        original_size=original,
        sha256=hashlib.sha256(data).hexdigest(),
        byte_size=len(data),
    )


def _too_many_pixels(size: tuple[int, int] | None, limits: ImageLimits) -> ImageTooManyPixels:
    said = f"{size[0]}×{size[1]} pixels" if size else "more pixels than we can safely decode"
    return ImageTooManyPixels(
        f"the photo declares {said}, over the limit of {limits.max_pixels / 1e6:.0f} megapixels; "
        "send a normal camera photo, not a panorama or a generated file"
    )
