"""Draw the site's icons (committed under static/): the app icons of the web app manifest, the apple-touch-icon
and favicon.ico.

    .venv/bin/python tools/make_icons.py            # writes static/icons/*.png and static/favicon.ico
    .venv/bin/python tools/make_icons.py --out DIR  # the same files under DIR (tests compare them)

The design is static/favicon.svg's: a white speech bubble on the accent colour of static/css/chat.css's light
theme, on a 32-unit grid. Shapes are drawn 8 times larger and scaled down, which smooths their edges.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
ACCENT = "#175fd0"  # chat.css light --accent (darkened for text contrast; the icons follow it)
BUBBLE = "#ffffff"  # chat.css --accent-fg (light)
GRID = 32
CORNER = 7  # favicon.svg's rx: the icon's own rounded corners
# favicon.svg's path "M8 10h16v9H14l-5 4v-4H8z": the bubble and its tail, down-left. It lies within 10.1 units of
# the centre, inside a maskable icon's safe zone (a circle of 40% of the size: 12.8 units), so one drawing serves.
BUBBLE_OUTLINE = [(8, 10), (24, 10), (24, 19), (14, 19), (9, 23), (9, 19), (8, 19)]
SUPERSAMPLE = 8


def icon(size: int, *, rounded: bool) -> Image.Image:
    """The icon at `size` pixels square; `rounded`: transparent corners, as favicon.svg. Without them the accent
    fills the square, as maskable icons and iOS's home screen (which rounds corners itself) want."""
    big = size * SUPERSAMPLE
    unit = big / GRID
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if rounded:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(CORNER * unit), fill=ACCENT)
    else:
        draw.rectangle((0, 0, big - 1, big - 1), fill=ACCENT)
    draw.polygon([(x * unit, y * unit) for x, y in BUBBLE_OUTLINE], fill=BUBBLE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def write(out: Path) -> list[Path]:
    """Every icon file under `out` (static/'s layout); returns their paths."""
    (out / "icons").mkdir(parents=True, exist_ok=True)
    files = {
        # The manifest's icons: "any" purpose with the favicon's rounded corners, and a maskable one.
        "icons/icon-192.png": icon(192, rounded=True),
        "icons/icon-512.png": icon(512, rounded=True),
        "icons/icon-maskable-512.png": icon(512, rounded=False),
        # iOS's home screen: 180 px, opaque (transparent corners would turn black).
        "icons/apple-touch-icon.png": icon(180, rounded=False).convert("RGB"),
    }
    written = []
    for name, image in files.items():
        image.save(out / name, optimize=True)
        written.append(out / name)
    # /favicon.ico, for browsers and tools that ask for it by that name: 16, 32 and 48 px, each drawn at its size.
    sizes = [16, 32, 48]
    images = [icon(size, rounded=True) for size in sizes]
    images[-1].save(out / "favicon.ico", sizes=[(s, s) for s in sizes], append_images=images[:-1])
    written.append(out / "favicon.ico")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "static", help="the static folder to write into")
    for path in write(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
