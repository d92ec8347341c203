"""``waifu-studio embed``: a 2-D map of latent codes (PCA, t-SNE, UMAP)."""

from __future__ import annotations

import argparse
import sys

from .common import (
    float_between,
    int_at_least,
    load_model,
    out_file,
    progress_bar,
)

# The map holds every sample's decoded face (12 KB at 64 px): 50,000 are 600 MB, and the
# projections switch to approximate neighbours above that count.
MAX_PRIOR_SAMPLES = 50_000


def register(sub: argparse._SubParsersAction) -> None:
    e = sub.add_parser("embed", help="2-D map of latent codes (PCA, t-SNE, UMAP)")
    e.add_argument("--checkpoint", required=True)
    e.add_argument("--data", required=True, help="folder of faces (ae/vae), or 'prior' for model samples")
    e.add_argument("--method", choices=("pca", "tsne", "umap"), required=True)
    e.add_argument("--out", required=True, help="FILE.npz with xy, latents and labels")
    e.add_argument("--png", help="also draw the map with faces as FILE.png")
    e.add_argument("--csv", help="also write FILE.csv: one row per point (index, file or seed, x, y, latent), "
                                 "for selecting points in a spreadsheet or pandas")
    e.add_argument("--n", type=int_at_least(2, MAX_PRIOR_SAMPLES), default=5000,
                   help=f"prior: number of samples (seeds 0..n-1, at most {MAX_PRIOR_SAMPLES:,})")
    e.add_argument("--perplexity", type=float_between(1.0, 500.0), default=30.0, help="t-SNE: 1 to 500")
    e.add_argument("--neighbors", type=int_at_least(2, 500), default=15, help="UMAP: 2 to 500")
    e.add_argument("--min-dist", type=float_between(0.0, 1.0), default=0.1, help="UMAP: 0 to 1")
    e.add_argument("--device", default="cpu")
    e.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.explore.map_stream import build_map_source
    from ..core.explore.maps import render_map_png
    from ..core.explore.projection import ProjectionParams, project
    from ..core.explore.projection.layout import sampling_note
    from ..core.explore.selection import points_csv
    from ..core.io.files import atomic_write_bytes

    out = out_file(args.out, (".npz",))
    png = out_file(args.png, (".png",)) if args.png else None
    table = out_file(args.csv, (".csv",)) if args.csv else None
    model = load_model(args.checkpoint, args.device)
    # Folders are encoded once per checkpoint: the app and earlier runs share the code cache.
    bar = progress_bar(0, "encoding" if args.data != "prior" else "sampling", "faces")
    source = build_map_source(model, args.data, n=args.n,
                              progress=lambda done, total: (setattr(bar, "total", total), setattr(bar, "n", done),
                                                            bar.refresh()))
    bar.close()
    params = ProjectionParams(method=args.method, perplexity=args.perplexity, n_neighbors=args.neighbors,
                              min_dist=args.min_dist)
    note = sampling_note(len(source.latents), params)
    if note:
        print(note, file=sys.stderr)
    bar = progress_bar(100, f"{args.method} of {len(source.latents)} points", "%")
    xy = project(source.features, params, cache_key=source.cache_key,
                 progress=lambda f, layout: (setattr(bar, "n", int(100 * f)), bar.refresh()))
    bar.close()
    np.savez_compressed(out, xy=xy, latents=source.latents, labels=np.array(source.labels), method=args.method)
    if png is not None:
        from ..core.explore.reproduce import map_recipe

        render_map_png(xy, source.faces, png, recipe=map_recipe(model, params, source.description, len(xy)))
    if table is not None:
        atomic_write_bytes(table, points_csv(source.labels, xy, source.latents, root=source.root))
    extra = [str(p) for p in (png, table) if p is not None]
    print(f"wrote {out} ({len(xy)} points, {args.method})" + (f" and {', '.join(extra)}" if extra else ""))
    return 0
