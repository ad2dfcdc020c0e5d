#!/usr/bin/env python3
"""Contact sheet: one row per photo, one column per folder of images, a label above each column.

  contact_sheet.py OUT.{png,jpg} LABEL=DIR [LABEL=DIR ...] [--height 192] [--names a,b] [--quality 85]

Images are matched across folders by file name without extension (the first folder decides the rows
and their order, or --names). Each cell is scaled to --height pixels (aspect kept; a missing image
is a grey cell). Written atomically (temporary file + rename). Needs Debian's python3-pil.
"""
import argparse
import os
import sys
import tempfile

from PIL import Image, ImageDraw

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
LABEL_HEIGHT = 14


def images_by_stem(folder):
    found = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = os.path.splitext(name)
        if ext.lower() in EXTENSIONS:
            found.setdefault(stem, os.path.join(folder, name))
    return found


def parse_columns(specs):
    columns = []
    for spec in specs:
        label, sep, folder = spec.partition("=")
        if not sep or not label or not folder:
            sys.exit(f"contact_sheet: error: '{spec}' is not LABEL=DIR")
        if not os.path.isdir(folder):
            sys.exit(f"contact_sheet: error: {folder}: no such folder")
        columns.append((label, images_by_stem(folder)))
    return columns


def cell(path, height, width_hint):
    if path is None:
        return Image.new("RGB", (width_hint, height), (128, 128, 128))
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
            width = max(1, round(image.width * height / image.height))
            return image.resize((width, height), Image.LANCZOS)
    except OSError as error:
        sys.exit(f"contact_sheet: error: {path}: {error}")


def build_sheet(columns, stems, height, gap=4):
    rows = []
    for stem in stems:
        first = columns[0][1].get(stem)
        hint = cell(first, height, height).width if first else height
        rows.append([cell(images.get(stem), height, hint) for _, images in columns])
    widths = [max(row[c].width for row in rows) for c in range(len(columns))]
    sheet = Image.new("RGB", (sum(widths) + gap * (len(widths) + 1),
                              LABEL_HEIGHT + len(rows) * (height + gap) + gap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    x = gap
    for c, (label, _) in enumerate(columns):
        draw.text((x, 1), label, fill=(0, 0, 0))
        for r, row in enumerate(rows):
            sheet.paste(row[c], (x, LABEL_HEIGHT + gap + r * (height + gap)))
        x += widths[c] + gap
    return sheet


def save_atomic(image, path, quality):
    folder = os.path.dirname(os.path.abspath(path))
    ext = os.path.splitext(path)[1].lower()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=ext)
    os.close(fd)
    try:
        if ext in (".jpg", ".jpeg"):
            image.save(tmp, quality=quality, optimize=True)
        else:
            image.save(tmp)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output")
    parser.add_argument("columns", nargs="+", help="LABEL=DIR")
    parser.add_argument("--height", type=int, default=192)
    parser.add_argument("--names", help="comma-separated file stems (rows), default: those of the first folder")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality")
    args = parser.parse_args()
    if args.height < 16:
        sys.exit("contact_sheet: error: --height must be >= 16")
    columns = parse_columns(args.columns)
    stems = args.names.split(",") if args.names else sorted(columns[0][1])
    if not stems:
        sys.exit(f"contact_sheet: error: no images in the first folder ({args.columns[0]})")
    save_atomic(build_sheet(columns, stems, args.height), args.output, args.quality)
    print(f"contact_sheet: wrote {args.output} ({len(stems)} rows x {len(columns)} columns)")


if __name__ == "__main__":
    main()
