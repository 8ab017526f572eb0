"""The Mitsuba 3 side of glassbox's Cornell box path tracer (crates/glassbox-synthesis/src/render/).

glassbox's CPU path tracer must reproduce Mitsuba 3's built-in `mitsuba.cornell_box()` scene. This script is
the peer it is checked against; it runs Mitsuba's `scalar_rgb` variant (plain C++ on the CPU, no JIT) and has
four subcommands:

  scene      dumps the scene exactly as `mi.cornell_box()` defines it and as Mitsuba loads it (transforms,
             materials, emitter, sensor, integrator, world-space triangles and normals) as a small JSON file;
             it is committed as tests/fixtures/mitsuba/cornell_box.json.
  render     renders one image and writes it as a little-endian PFM.
  reference  renders several seeds, writes each as PFM and a JSON file of statistics: mean radiance and the
             noise floor (relMSE between two independent renders), the yardstick for glassbox's images;
             its JSON is committed as tests/fixtures/mitsuba/cornell_reference.json.
  bench      times Mitsuba's render on a fixed number of threads; prints one JSON line.

Every render uses the scene as `mi.cornell_box()` has it (path integrator, max_depth 8, 256x256) except for
the reconstruction filter: a box filter instead of the default gaussian, so that each pixel is the plain mean
of its own samples (glassbox's tracer uses a box filter; a gaussian would blur neighbouring pixels together).

Setup: a virtual environment with `pip install mitsuba numpy` (the repository ignores `.venv*`), e.g.
    python3 -m venv .venv-bench && .venv-bench/bin/pip install mitsuba numpy
    .venv-bench/bin/python xtask/bench/mitsuba_cornell.py scene --out tests/fixtures/mitsuba/cornell_box.json
"""
import argparse
import json
import os
import re
import statistics
import sys
import time

import numpy as np

# The variant is chosen before anything else touches Mitsuba: scalar_rgb renders one ray at a time in C++ on
# the CPU thread pool, which is what glassbox's CPU tracer is compared with (and it needs no LLVM or GPU).
import mitsuba as mi
import drjit as dr

VARIANT = "scalar_rgb"
mi.set_variant(VARIANT)

# Shape plugins whose geometry the scene dump spells out triangle by triangle.
MESH_SHAPES = ("cube", "rectangle")


def sig(x, digits=7):
    """Round to `digits` significant digits, to keep the committed JSON small and readable."""
    x = float(x)
    return 0.0 if x == 0.0 else float(f"{x:.{digits}g}")


def sig_list(a):
    """Nested lists of floats, each rounded by `sig`."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return sig(a)
    return [sig_list(row) for row in a]


def dump_json(obj, path):
    """Indented JSON whose innermost lists (a vector, a matrix row, a triangle) stay on one line."""
    text = json.dumps(obj, indent=1)
    text = re.sub(r"\[\s*([-+0-9.eE]+(?:,\s*[-+0-9.eE]+)*)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text + "\n")


def matrix_of(transform):
    """A ScalarTransform4f's 4x4 matrix, row-major: row i is output coordinate i, column 3 the translation."""
    m = np.array(transform.matrix, dtype=np.float64)
    assert m.shape == (4, 4)
    return m


def set_threads(threads):
    """Make Mitsuba render on exactly `threads` threads.

    The scalar variants render image blocks on Dr.Jit's nanothread pool. `dr.set_thread_count(n)` counts the
    calling thread as one of the n (its docstring: n - 1 workers plus the caller), and per-thread CPU time
    from /proc/self/task confirms exactly n threads doing render work (Mitsuba 3.9.1, Dr.Jit 1.5.0). Mitsuba's
    own Info log line says "n+1 threads"; that number only feeds its block-size heuristic. The image does not
    depend on the thread count: each pixel's sampler is seeded from the seed and the pixel's block and index.
    """
    dr.set_thread_count(threads)


def cornell_dict(spp=None, box_filter=True, width=None, height=None):
    """`mi.cornell_box()`, optionally with a box filter, another sample count or another film size."""
    scene = mi.cornell_box()
    film = scene["sensor"]["film"]
    if box_filter:
        # Pixels independent of each other, as in glassbox's tracer (see the module docstring).
        film["rfilter"] = {"type": "box"}
    if width is not None:
        film["width"] = width
    if height is not None:
        film["height"] = height
    if spp is not None:
        scene["sensor"]["sampler"]["sample_count"] = spp
    return scene


def render_image(scene, spp, seed):
    """Render sensor 0 with the scene's own integrator; returns (H, W, 3) float32, row 0 = top of image."""
    sensor = scene.sensors()[0]
    image = scene.integrator().render(scene, sensor, seed=seed, spp=spp, develop=True, evaluate=True)
    image = np.array(image, dtype=np.float32)
    assert image.ndim == 3 and image.shape[2] == 3, image.shape
    return image


def write_pfm(path, image):
    """Write linear RGB as a little-endian colour PFM.

    `image` is (H, W, 3) with row 0 at the top of the picture (Mitsuba's film order). The PFM format stores
    scanlines from the BOTTOM of the picture to the top, so rows are flipped on the way out; the scale -1.0
    in the header marks little-endian floats.
    """
    image = np.asarray(image, dtype="<f4")
    h, w, c = image.shape
    assert c == 3
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(f"PF\n{w} {h}\n-1.0\n".encode("ascii"))
        f.write(np.ascontiguousarray(image[::-1]).tobytes())


def channel_means(image):
    return [float(v) for v in image.reshape(-1, 3).astype(np.float64).mean(axis=0)]


def rel_mse(image, reference):
    """mean over pixels and channels of (I - R)^2 / (R^2 + 0.01)."""
    i = image.astype(np.float64)
    r = reference.astype(np.float64)
    return float(np.mean((i - r) ** 2 / (r * r + 0.01)))


# ----------------------------------------------------------------------------------------------- scene --

def integrator_settings(integrator):
    """max_depth and rr_depth as the loaded plugin reports them (rr_depth is left at its default)."""
    text = str(integrator)
    out = {"type": "path"}
    for key in ("max_depth", "rr_depth"):
        m = re.search(rf"{key}\s*=\s*(-?\d+)", text)
        out[key] = int(m.group(1)) if m else None
    # hide_emitters is off unless set; cornell_box() does not set it.
    out["hide_emitters"] = False
    return out


def mesh_geometry(plugin, to_world):
    """Load one shape on its own, the way the scene loads it, and read back its world-space mesh.

    Mitsuba applies `to_world` when it builds the mesh, so the buffers are already in world space. The scene
    itself merges shapes that share a BSDF (MergeShape), which is why each shape is loaded alone here: the
    per-shape triangles are the same, only grouped differently.
    """
    shape = mi.load_dict({"type": plugin, "to_world": to_world})
    assert shape.is_mesh(), f"{plugin} is not a mesh in this Mitsuba version"
    pos = np.array(shape.vertex_positions_buffer(), dtype=np.float64).reshape(-1, 3)
    faces = np.array(shape.faces_buffer(), dtype=np.int64).reshape(-1, 3)
    out = {
        "vertices": sig_list(pos),
        "triangles": faces.tolist(),
        "surface_area": sig(shape.surface_area()),
    }
    # Geometric normal of each triangle from its winding, normalize(cross(p1 - p0, p2 - p0)), which is the
    # face normal Mitsuba's Mesh reports (checked against shape.face_normal below).
    geo = np.cross(pos[faces[:, 1]] - pos[faces[:, 0]], pos[faces[:, 2]] - pos[faces[:, 0]])
    geo /= np.linalg.norm(geo, axis=1, keepdims=True)
    for f in range(len(faces)):
        mitsuba_n = np.array(shape.face_normal(f), dtype=np.float64)
        assert np.allclose(mitsuba_n, geo[f], atol=1e-5), (plugin, f, mitsuba_n, geo[f])
    out["face_normals"] = sig_list(geo)
    if shape.has_vertex_normals():
        vn = np.array(shape.vertex_normals_buffer(), dtype=np.float64).reshape(-1, 3)
        out["vertex_normals"] = sig_list(vn)
        # Does every triangle's winding agree with its vertices' (shading) normals?
        agree = all(float(np.dot(geo[f], vn[v])) > 0.0 for f in range(len(faces)) for v in faces[f])
        out["winding_agrees_with_vertex_normals"] = bool(agree)
    if shape.has_vertex_texcoords():
        uv = np.array(shape.vertex_texcoords_buffer(), dtype=np.float64).reshape(-1, 2)
        out["vertex_texcoords"] = sig_list(uv)
    return out


def reflectance_of(bsdf_dict):
    assert bsdf_dict["type"] == "diffuse", bsdf_dict
    return sig_list(bsdf_dict["reflectance"]["value"])


def cmd_scene(args):
    d = mi.cornell_box()
    bsdfs = {k: v for k, v in d.items() if isinstance(v, dict) and v.get("type") == "diffuse"}
    out = {
        "what": "mitsuba.cornell_box() as Mitsuba defines and loads it; written by "
                "xtask/bench/mitsuba_cornell.py scene",
        "mitsuba": mi.__version__,
        "drjit": dr.__version__,
        "variant": VARIANT,
        "conventions": {
            "matrices": "4x4 row-major; p_world = M @ [x, y, z, 1]; column 3 is the translation",
            "numbers": "rounded to 7 significant digits; entries like -4.371139e-08 are float32 cos(90 deg)",
            "rectangle_local": "[-1,1]^2 in z=0, normal +z, uv = (x+1)/2, (y+1)/2",
            "cube_local": "[-1,1]^3, outward normals",
            "mesh_data": "world space (to_world already applied), as Mitsuba builds the meshes",
        },
        "bsdfs": {k: {"type": "diffuse", "reflectance_rgb": reflectance_of(v)} for k, v in bsdfs.items()},
        "shapes": {},
    }
    for name, v in d.items():
        if not (isinstance(v, dict) and v.get("type") in MESH_SHAPES):
            continue
        bsdf_id = v["bsdf"]["id"]
        shape = {
            "type": v["type"],
            "to_world": sig_list(matrix_of(v["to_world"])),
            "bsdf": bsdf_id,
            "reflectance_rgb": reflectance_of(bsdfs[bsdf_id]),
            "emitter": None,
        }
        if "emitter" in v:
            em = v["emitter"]
            shape["emitter"] = {"type": em["type"], "radiance_rgb": sig_list(em["radiance"]["value"])}
        shape.update(mesh_geometry(v["type"], v["to_world"]))
        out["shapes"][name] = shape

    # The loaded scene: what the plugins made of the dict (defaults filled in).
    scene = mi.load_dict(d)
    sensor = scene.sensors()[0]
    film = sensor.film()
    params = mi.traverse(sensor)
    sd = d["sensor"]
    cam = matrix_of(sd["to_world"])
    out["sensor"] = {
        "type": sd["type"],
        "fov": sig(sd["fov"]),
        "fov_axis": sd["fov_axis"],
        # The horizontal field of view the camera derived from fov + fov_axis (equal to fov for a square film).
        "x_fov_loaded": sig(params["x_fov"]),
        "near_clip": sig(sd["near_clip"]),
        "far_clip": sig(sd["far_clip"]),
        "focus_distance": sd["focus_distance"],
        "look_at": {"origin": [0.0, 0.0, 3.9], "target": [0.0, 0.0, 0.0], "up": [0.0, 1.0, 0.0]},
        "to_world": sig_list(cam),
        # Columns of to_world: camera-space +x, +y, +z and the eye. Camera +x is the image's LEFT (sample
        # x = 0 is the left edge and maps to camera +x), +y is image up, +z is the viewing direction.
        "camera_axes_world": {
            "image_left": sig_list(cam[:3, 0]),
            "image_up": sig_list(cam[:3, 1]),
            "forward": sig_list(cam[:3, 2]),
            "eye": sig_list(cam[:3, 3]),
        },
        "film": {
            "type": sd["film"]["type"],
            "width": int(film.size()[0]),
            "height": int(film.size()[1]),
            "rfilter": sd["film"]["rfilter"]["type"],
            "rfilter_loaded": str(film.rfilter()),
            "pixel_format": sd["film"]["pixel_format"],
        },
        "sampler": {"type": sd["sampler"]["type"], "sample_count": int(sensor.sampler().sample_count())},
    }
    out["integrator"] = integrator_settings(scene.integrator())
    assert out["integrator"]["max_depth"] == d["integrator"]["max_depth"]

    dump_json(out, args.out)
    print(json.dumps({"wrote": args.out, "shapes": list(out["shapes"]), "mitsuba": mi.__version__}))


# ---------------------------------------------------------------------------------------------- render --

def cmd_render(args):
    set_threads(args.threads)
    scene = mi.load_dict(cornell_dict(spp=args.spp, width=args.width, height=args.height))
    t0 = time.perf_counter()
    image = render_image(scene, args.spp, args.seed)
    seconds = time.perf_counter() - t0
    write_pfm(args.out, image)
    print(json.dumps({"out": args.out, "mean_rgb": channel_means(image), "spp": args.spp, "seed": args.seed,
                      "width": args.width, "height": args.height, "threads": args.threads,
                      "seconds": round(seconds, 3)}))


# ------------------------------------------------------------------------------------------- reference --

def cmd_reference(args):
    set_threads(args.threads)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    assert len(seeds) >= 2, "the noise floor needs two seeds"
    scene = mi.load_dict(cornell_dict(spp=args.spp))
    images, per_image = [], []
    for seed in seeds:
        t0 = time.perf_counter()
        image = render_image(scene, args.spp, seed)
        seconds = time.perf_counter() - t0
        name = f"mitsuba_cornell_spp{args.spp}_seed{seed}.pfm"
        write_pfm(os.path.join(args.out_dir, name), image)
        images.append(image)
        per_image.append({"seed": seed, "file": name, "mean_rgb": channel_means(image),
                          "seconds": round(seconds, 2)})
        print(json.dumps(per_image[-1]), flush=True)

    a, b = images[0], images[1]
    stats = {
        "what": "Mitsuba reference renders of mitsuba.cornell_box() with a box filter; written by "
                "xtask/bench/mitsuba_cornell.py reference",
        "mitsuba": mi.__version__,
        "drjit": dr.__version__,
        "variant": VARIANT,
        "integrator": {"type": "path", "max_depth": 8, "rr_depth": 5},
        "rfilter": "box",
        "threads": args.threads,
        "width": int(a.shape[1]),
        "height": int(a.shape[0]),
        "spp": args.spp,
        "seeds": seeds,
        "images": per_image,
        "mean_rgb_over_seeds": [float(v) for v in np.mean([p["mean_rgb"] for p in per_image], axis=0)],
        # Noise floor: two independent Mitsuba renders differ by this much, so no tracer at this spp can be
        # expected to come closer to a single Mitsuba render. relMSE(I, R) = mean (I - R)^2 / (R^2 + 0.01).
        "relmse_definition": "mean over pixels and channels of (I - R)^2 / (R^2 + 0.01)",
        "noise_floor_relmse": rel_mse(a, b),  # I = first seed, R = second seed
        "noise_floor_relmse_first_vs_second": rel_mse(a, b),
        "noise_floor_relmse_second_vs_first": rel_mse(b, a),
    }
    dump_json(stats, args.stats)
    print(json.dumps({"stats": args.stats, "mean_rgb_over_seeds": stats["mean_rgb_over_seeds"],
                      "noise_floor_relmse": stats["noise_floor_relmse"],
                      "noise_floor_relmse_second_vs_first": stats["noise_floor_relmse_second_vs_first"]}))


# ----------------------------------------------------------------------------------------------- bench --

def thread_cpu_ticks():
    """CPU time (user + system clock ticks) of each thread of this process, from /proc (Linux only)."""
    ticks = {}
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            ticks[tid] = int(fields[11]) + int(fields[12])
    except OSError:
        pass
    return ticks


def cmd_bench(args):
    set_threads(args.threads)
    scene = mi.load_dict(cornell_dict(spp=args.spp, width=args.width, height=args.height))
    # Warm-up: the first render also pays for one-off work (Embree build, plugin set-up); not timed.
    render_image(scene, args.spp, 0)

    seconds = []
    before = thread_cpu_ticks()
    cpu0 = os.times()
    for run in range(args.runs):
        sensor = scene.sensors()[0]
        integrator = scene.integrator()
        t0 = time.perf_counter()
        # Only the render call is timed; develop=True as for the reference images (a cheap final copy).
        integrator.render(scene, sensor, seed=run + 1, spp=args.spp, develop=True, evaluate=True)
        seconds.append(time.perf_counter() - t0)
    cpu1 = os.times()
    after = thread_cpu_ticks()

    # How many threads really worked: those that accrued at least 5% of the CPU time of the timed runs.
    spent = {t: after[t] - before.get(t, 0) for t in after}
    total = sum(spent.values())
    busy = sum(1 for v in spent.values() if total and v >= 0.05 * total)
    samples = args.width * args.height * args.spp
    print(json.dumps({
        "samples_per_second_median": samples / statistics.median(seconds),
        "seconds": [round(s, 4) for s in seconds],
        "threads": args.threads,
        "spp": args.spp,
        "width": args.width,
        "height": args.height,
        "busy_threads_measured": busy,
        "cpu_seconds_per_wall_second": round(((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system))
                                             / sum(seconds), 3),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "mitsuba": mi.__version__,
        "variant": VARIANT,
    }))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("scene", help="dump mi.cornell_box() as JSON")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_scene)

    def film_args(q):
        q.add_argument("--width", type=int, default=256)
        q.add_argument("--height", type=int, default=256)

    r = sub.add_parser("render", help="render one image (box filter) to a PFM")
    r.add_argument("--spp", type=int, required=True)
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--out", required=True)
    r.add_argument("--threads", type=int, default=2)
    film_args(r)
    r.set_defaults(fn=cmd_render)

    f = sub.add_parser("reference", help="render several seeds, write PFMs and statistics")
    f.add_argument("--spp", type=int, required=True)
    f.add_argument("--seeds", required=True, help="comma-separated, at least two")
    f.add_argument("--out-dir", required=True)
    f.add_argument("--stats", required=True)
    f.add_argument("--threads", type=int, default=2)
    f.set_defaults(fn=cmd_reference)

    b = sub.add_parser("bench", help="time Mitsuba's render on a fixed number of threads")
    b.add_argument("--spp", type=int, default=64)
    b.add_argument("--runs", type=int, default=5)
    b.add_argument("--threads", type=int, default=2)
    film_args(b)
    b.set_defaults(fn=cmd_bench)

    args = p.parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
