"""Figure plumbing shared by the analysis plots: Agg figures without pyplot, saving PNG/PDF, non-overlapping labels.

Figures are `matplotlib.figure.Figure` objects on their own Agg canvas, so plotting never touches pyplot's
global state or the user's backend.
"""
from __future__ import annotations

from pathlib import Path

FORMATS = ("png", "pdf")
DPI = 150


def new_figure(width: float, height: float):
    """A Figure (inches) drawn by its own Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def output_paths(output, formats=FORMATS) -> list[Path]:
    """The files a figure is saved to: `output` with each format's suffix (a given .png/.pdf suffix is replaced)."""
    output = Path(output)
    formats = [fmt.lower().lstrip(".") for fmt in formats]
    unknown = [fmt for fmt in formats if fmt not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"Figure formats must be some of {list(FORMATS)}, got {list(formats)}.")
    stem = output.with_suffix("") if output.suffix.lower() in (".png", ".pdf") else output
    return [stem.with_name(f"{stem.name}.{fmt}") for fmt in formats]


def save(figure, output, formats=FORMATS) -> list[Path]:
    """Save the figure in every format; return the paths written."""
    paths = output_paths(output, formats)
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=DPI, metadata={"Software": "featherweight"} if path.suffix == ".png" else None)
    return paths


def _offsets():
    """Candidate label offsets (points from the anchor), nearest first, in eight directions."""
    directions = [(1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1), (0, -1), (1, 0), (-1, 0)]
    for radius in (6, 14, 24, 36, 50, 66, 84):
        for dx, dy in directions:
            yield radius * dx, radius * dy


def place_labels(ax, xs, ys, labels, *, avoid=(), lines=(), fontsize: float = 7.5, color="0.15") -> list:
    """Annotate (x, y) points with their labels, each at the nearest offset where it overlaps no other label,
    no point of `avoid` ((x, y) pairs), no line of `lines` ((xs, ys) polylines), all in data coordinates,
    and stays inside the axes; far labels get a leader line that crosses no label placed before it. Set the
    axes limits first: placement is done in display space. Returns the annotations."""
    from matplotlib.transforms import Bbox

    figure = ax.figure
    renderer = figure.canvas.get_renderer()
    figure.canvas.draw()  # fixes the layout so display coordinates are final
    to_display = ax.transData.transform
    inside = ax.get_window_extent(renderer)
    pad = 4.5 * figure.dpi / 72  # about a marker's radius

    def square(px, py, half):
        return Bbox.from_extents(px - half, py - half, px + half, py + half)

    obstacles = [square(*to_display((x, y)), pad) for x, y in [*zip(xs, ys), *avoid]]
    for line_xs, line_ys in lines:
        points = to_display(list(zip(line_xs, line_ys)))
        for (x0, y0), (x1, y1) in zip(points[:-1], points[1:]):
            steps = max(1, int(max(abs(x1 - x0), abs(y1 - y0)) / 3))
            obstacles += [square(x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps, 3.0)
                          for k in range(steps + 1)]
    placed, leaders, texts = [], [], []
    for x, y, label in sorted(zip(xs, ys, labels), key=lambda item: (item[0], item[1])):
        anchor = to_display((x, y))
        best = None
        for dx, dy in _offsets():
            style = {"ha": "left" if dx > 0 else "right" if dx < 0 else "center",
                     "va": "bottom" if dy > 0 else "top" if dy < 0 else "center"}
            text = ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                               color=color, **style)
            box = text.get_window_extent(renderer).expanded(1.04, 1.15)
            text.remove()
            cost = sum(_area(box, other) for other in placed) * 4 + sum(_area(box, other) for other in obstacles)
            if not (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0 and box.y1 <= inside.y1):
                cost += box.width * box.height * 10
            cost += 200 * sum(box.contains(*_along(segment, k / 12)) for segment in leaders for k in range(13))
            if abs(dx) + abs(dy) > 20:  # the leader line must cross no label and no other leader line
                segment = (anchor, _centre(box))
                cost += 200 * sum(other.contains(*_along(segment, k / 12)) for k in range(1, 12) for other in placed)
                cost += 400 * sum(_crosses(segment, other) for other in leaders)
            if best is None or cost < best[0]:
                best = (cost, dx, dy, style, box)
            if cost == 0:
                break
        _, dx, dy, style, box = best
        arrow = ({"arrowstyle": "-", "color": "0.55", "lw": 0.6, "shrinkA": 0, "shrinkB": 3}
                 if abs(dx) + abs(dy) > 20 else None)
        texts.append(ax.annotate(label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=fontsize,
                                 color=color, arrowprops=arrow, **style))
        placed.append(box)
        if arrow:
            leaders.append((anchor, _centre(box)))
    return texts


def _centre(box) -> tuple[float, float]:
    return (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2


def _along(segment, fraction: float) -> tuple[float, float]:
    """The point `fraction` of the way along a segment ((x0, y0), (x1, y1))."""
    (x0, y0), (x1, y1) = segment
    return x0 + (x1 - x0) * fraction, y0 + (y1 - y0) * fraction


def _crosses(a, b) -> bool:
    """Whether two segments cross (touching ends do not count)."""
    def side(p, q, r):
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    (p1, p2), (q1, q2) = a, b
    return side(p1, p2, q1) * side(p1, p2, q2) < 0 and side(q1, q2, p1) * side(q1, q2, p2) < 0


def _area(a, b) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return width * height if width > 0 and height > 0 else 0.0


def format_bytes(value: float, _position=None) -> str:
    """10_000 -> "10 KB", 2_500_000 -> "2.5 MB" (decimal units, as the size tables use)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if value >= scale:
            number = value / scale
            return f"{number:.0f} {unit}" if number >= 10 or number == int(number) else f"{number:.2g} {unit}"
    return f"{value:.0f} B"
