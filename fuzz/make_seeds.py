#!/usr/bin/env python3
"""Regenerates the committed seed corpora in fuzz/seeds/<target>/ (small files, a few KB each).

The pictures and sounds are cut from the real fixtures in /work/shared/fixtures/imagebind
(or $FIXTURES): a photo downscaled and re-encoded in every image format we decode, the sine
recording cut short and re-encoded in every audio format. Depth, thermal and IMU files follow
the conventions of the datasets (NYU-D millimetre PNGs, LLVIP-style grayscale, Ego4D-like
6-axis CSV). The index seeds are written by the index targets themselves (see fuzz/README.md).

Needs: pillow, numpy, soundfile (libsndfile >= 1.1 for MP3).
"""

import io
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
from PIL import Image

FIX = Path(os.environ.get("FIXTURES", "/work/shared/fixtures/imagebind"))
OUT = Path(__file__).resolve().parent / "seeds"


def put(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def img_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def images():
    photo = Image.open(FIX / "image_200x300.png").convert("RGB").resize((20, 30), Image.BICUBIC)
    jphoto = Image.open(FIX / "image_320x240.jpg").convert("RGB").resize((32, 24), Image.BICUBIC)
    put("image", "photo.png", img_bytes(photo, "PNG", optimize=True))
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    put("image", "alpha.png", img_bytes(rgba, "PNG", optimize=True))
    put("image", "palette.png", img_bytes(photo.convert("P", palette=Image.ADAPTIVE, colors=16), "PNG"))
    put("image", "interlaced.png", img_bytes(photo, "PNG", interlace=1))  # Adam7 (Pillow ignores it; kept as a plain PNG if so)
    put("image", "gray16.png", img_bytes(Image.fromarray((np.asarray(photo.convert("L"), np.uint16) * 257)), "PNG"))
    put("image", "baseline.jpg", img_bytes(jphoto, "JPEG", quality=80))
    put("image", "progressive.jpg", img_bytes(jphoto, "JPEG", quality=80, progressive=True))
    put("image", "gray.jpg", img_bytes(jphoto.convert("L"), "JPEG", quality=80))
    put("image", "subsample444.jpg", img_bytes(jphoto, "JPEG", quality=90, subsampling=0))
    cmyk = jphoto.convert("CMYK")
    put("image", "cmyk.jpg", img_bytes(cmyk, "JPEG", quality=75))
    put("image", "lossy.webp", img_bytes(photo, "WEBP", quality=70))
    put("image", "lossless.webp", img_bytes(rgba, "WEBP", lossless=True))
    frames = [photo, photo.rotate(90, expand=False)]
    b = io.BytesIO()
    frames[0].save(b, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    put("image", "anim.gif", b.getvalue())
    put("image", "raw.tiff", img_bytes(photo, "TIFF"))
    put("image", "lzw.tiff", img_bytes(photo, "TIFF", compression="tiff_lzw"))
    put("image", "photo.bmp", img_bytes(photo.resize((10, 8)), "BMP"))
    put("image", "rle8.bmp", bmp_rle8())
    # EXIF orientation 6 (rotate 90).
    exif = Image.Exif()
    exif[0x0112] = 6
    put("image", "exif_rotated.jpg", img_bytes(jphoto, "JPEG", quality=60, exif=exif.tobytes()))


def bmp_rle8():
    """A 4x2 8-bit RLE-compressed BMP (Pillow cannot write RLE)."""
    w, h = 4, 2
    palette = b"".join(bytes([i * 60, 255 - i * 60, i * 30, 0]) for i in range(4))
    rle = bytes([4, 1, 0, 0, 2, 2, 2, 3, 0, 0, 0, 1])  # run, eol, runs, eol, eob
    off = 14 + 40 + len(palette)
    hdr = struct.pack("<2sIHHI", b"BM", off + len(rle), 0, 0, off)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 1, len(rle), 2835, 2835, 4, 4)
    return hdr + info + palette + rle


def audio():
    x, sr = sf.read(FIX / "audio_sine_16k_mono.wav", dtype="float32")
    x = x[: sr // 10]  # 0.1 s: above one 25 ms fbank frame, a few KB
    for name, sub in [("pcm16.wav", "PCM_16"), ("pcm8.wav", "PCM_U8"), ("pcm24.wav", "PCM_24"),
                      ("float.wav", "FLOAT"), ("ulaw.wav", "ULAW")]:
        b = io.BytesIO()
        sf.write(b, x[: sr // 20], sr, format="WAV", subtype=sub)
        put("audio", name, b.getvalue())
    st = np.stack([x[:800], -x[:800]], axis=1)
    b = io.BytesIO()
    sf.write(b, st, 8000, format="WAV", subtype="PCM_16")
    put("audio", "stereo_8k.wav", b.getvalue())
    b = io.BytesIO()
    sf.write(b, x, sr, format="FLAC", subtype="PCM_16")
    put("audio", "sine.flac", b.getvalue())
    b = io.BytesIO()
    sf.write(b, x, sr, format="OGG", subtype="VORBIS")
    put("audio", "sine.ogg", b.getvalue())
    b = io.BytesIO()
    sf.write(b, np.concatenate([x, x, x]), sr, format="MP3", subtype="MPEG_LAYER_III")
    put("audio", "sine.mp3", b.getvalue())


def depth():
    yy, xx = np.mgrid[0:12, 0:16]
    mm = (1000 + 150 * xx + 80 * yy).astype(np.uint16)
    mm[3:5, 4:7] = 0  # holes: no reading
    put("depth", "kinect_mm.png", img_bytes(Image.fromarray(mm), "PNG"))
    put("depth", "kinect_mm.tiff", img_bytes(Image.fromarray(mm), "TIFF"))
    m = mm.astype(np.float32) / 1000
    put("depth", "metres_f32.npy", npy_bytes(m))
    put("depth", "metres_f64_1hw.npy", npy_bytes(m.astype(np.float64)[None]))
    put("depth", "metres_fortran.npy", npy_bytes(np.asfortranarray(m)))
    put("depth", "metres_bigendian.npy", npy_bytes(m.astype(">f4")))


def thermal():
    yy, xx = np.mgrid[0:12, 0:16]
    t8 = (40 + 10 * xx + 5 * yy).astype(np.uint8)
    put("thermal", "gray8.png", img_bytes(Image.fromarray(t8), "PNG"))
    put("thermal", "gray16.png", img_bytes(Image.fromarray(t8.astype(np.uint16) * 250), "PNG"))
    put("thermal", "gray.jpg", img_bytes(Image.fromarray(t8), "JPEG", quality=85))
    put("thermal", "gray_as_rgb.png", img_bytes(Image.fromarray(t8).convert("RGB"), "PNG"))
    put("thermal", "gray_alpha.png", img_bytes(Image.fromarray(t8).convert("LA"), "PNG"))
    put("thermal", "gray.tiff", img_bytes(Image.fromarray(t8), "TIFF"))


def imu():
    t = np.arange(40) / 200.0
    sig = np.stack([np.sin(2 * np.pi * f * t) * a for f, a in
                    [(1, 9.8), (2, 0.5), (3, 0.2), (0.5, 0.1), (4, 0.05), (1.5, 0.3)]], axis=1)
    lines = ["ax,ay,az,gx,gy,gz"] + [",".join(f"{v:.5f}" for v in row) for row in sig[:20]]
    put("imu", "header.csv", ("\n".join(lines) + "\n").encode())
    lines = ["# time, accelerometer (m/s^2), gyroscope (rad/s)", ""]
    lines += [f"{ts:.3f}, " + ", ".join(f"{v:.4g}" for v in row) for ts, row in zip(t[:20], sig[:20])]
    put("imu", "timestamped.csv", ("\r\n".join(lines) + "\r\n").encode())
    put("imu", "channels_first.npy", npy_bytes(sig.T.astype(np.float32)))
    put("imu", "time_first_f64.npy", npy_bytes(sig[:12]))


def text():
    cases = json.loads((FIX / "tokenizer_cases.json").read_text())
    for i, s in enumerate(list(cases)[:8]):
        put("text", f"case{i}.txt", s.encode())
    put("text", "bom.txt", "\ufeffa photo of a dog".encode())
    put("text", "html.txt", b"Tom &amp;amp; Jerry &lt;3 &#x1F600; &nbsp;caf&eacute;")
    put("text", "mojibake.txt", "The Mona Lisa doesnâ€™t have eyebrows â€” Ã©tÃ©".encode())
    put("text", "long_words.txt", ("supercalifragilistic" * 12 + " ") .encode() * 3)
    put("text", "special_tokens.txt", b"<|startoftext|>hello<|endoftext|> world's they're")
    put("text", "cjk_emoji.txt", "東京タワー 🐶🐱 \u0301e\u0345 \t\n  x".encode())


class _Global:
    """Pickles as GLOBAL module.name, like torch's own classes and functions."""

    def __init__(self, module, name):
        self.module, self.name = module, name

    def __call__(self, *args):  # pickle insists that a reduce function is callable
        raise NotImplementedError


class _TorchPickler:
    """A protocol-2 pickle of a state dict the way torch.save writes it, without torch:
    tensors are `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, False,
    OrderedDict())` and storages persistent ids `('storage', torch.FloatStorage, key,
    'cpu', numel)`."""

    def __init__(self):
        import pickle
        self.pickle = pickle

    def dumps(self, state, storage_class):
        import pickle
        from collections import OrderedDict

        out = io.BytesIO()
        p = pickle._Pickler(out, protocol=2)

        def save_global(obj):
            p.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
            p.memoize(obj)

        def persistent_id(obj):
            if isinstance(obj, tuple) and obj and obj[0] == "storage":
                return obj
            return None

        p.persistent_id = persistent_id
        p.dispatch = dict(p.dispatch)
        p.dispatch[_Global] = lambda self, obj: save_global(obj)

        class Tensor:
            def __init__(self, key, shape, stride, numel, offset=0):
                self.args = (("storage", _Global("torch", storage_class), key, "cpu", numel),
                             offset, tuple(shape), tuple(stride), False, OrderedDict())

            def __reduce__(self):
                return (_Global("torch._utils", "_rebuild_tensor_v2"), self.args)

        d = OrderedDict()
        for name, (key, shape, stride, numel) in state.items():
            d[name] = Tensor(key, shape, stride, numel)
        p.dump(d)
        return out.getvalue()


def _numel_stride(shape):
    stride, acc = [], 1
    for n in reversed(shape):
        stride.insert(0, acc)
        acc *= n
    return acc, stride


def checkpoints():
    import zipfile

    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    # ZIP container (torch >= 1.6): archive/data.pkl, archive/data/<key>, archive/version.
    state = {"encoder.weight": ("0", w.shape, _numel_stride(w.shape)[1], w.size),
             "encoder.bias": ("1", b.shape, [1], b.size)}
    pkl = _TorchPickler().dumps(state, "FloatStorage")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", w.tobytes())
        z.writestr("archive/data/1", b.tobytes())
        z.writestr("archive/version", "3\n")
    put("checkpoint", "zip_f32.pth", buf.getvalue())
    # The same with a half-precision tensor and a view (offset, transposed stride).
    h = rng.standard_normal(6).astype(np.float16)
    state = {"w.t": ("0", (3, 2), [1, 3], 6), "half": ("1", (6,), [1], 6)}
    pkl = _TorchPickler().dumps(state, "HalfStorage")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("model/data.pkl", pkl)
        z.writestr("model/data/0", h.tobytes())
        z.writestr("model/data/1", h.tobytes())
        z.writestr("model/version", "3\n")
    put("checkpoint", "zip_f16_deflated.pth", buf.getvalue())
    # Legacy stream (torch 0.1.10 - 1.5): magic, protocol, sys info, object, keys, storages.
    import pickle
    legacy = io.BytesIO()
    for obj in (0x1950A86A20F9469CFC6C, 1001,
                {"protocol_version": 1001, "little_endian": True,
                 "type_sizes": {"short": 2, "int": 4, "long": 4}}):
        pickle.dump(obj, legacy, protocol=2)
    state = {"encoder.weight": ("0", w.shape, _numel_stride(w.shape)[1], w.size),
             "encoder.bias": ("1", b.shape, [1], b.size)}
    legacy.write(_TorchPickler().dumps(state, "FloatStorage"))
    pickle.dump(["0", "1"], legacy, protocol=2)
    for arr in (w, b):
        legacy.write(struct.pack("<q", arr.size))
        legacy.write(arr.tobytes())
    put("checkpoint", "legacy_f32.pth", legacy.getvalue())
    # safetensors: 8-byte header length, JSON header, data.
    def safetensors(tensors, meta=None):
        header, data = {}, b""
        for name, (dtype, arr) in tensors.items():
            raw = arr.tobytes()
            header[name] = {"dtype": dtype, "shape": list(arr.shape),
                            "data_offsets": [len(data), len(data) + len(raw)]}
            data += raw
        if meta:
            header["__metadata__"] = meta
        hb = json.dumps(header, separators=(",", ":")).encode()
        hb += b" " * (-len(hb) % 8)
        return struct.pack("<Q", len(hb)) + hb + data
    put("checkpoint", "f32.safetensors", safetensors(
        {"encoder.weight": ("F32", w), "encoder.bias": ("F32", b)}, {"format": "pt"}))
    bf16 = (w.view(np.uint32) >> 16).astype(np.uint16)
    put("checkpoint", "mixed.safetensors", safetensors(
        {"a": ("F16", w.astype(np.float16)), "b": ("BF16", bf16), "c": ("F64", b.astype(np.float64)),
         "empty": ("F32", np.zeros((0, 3), np.float32))}))


def many_expanded_views(path, n=20000, elements=12000):
    """FINDINGS.md, checkpoint: n tensors, each a stride-0 view of one float declaring
    `elements` floats; each is smaller than the file, together they are ~1 GB (~450 KB file).
    Too large to commit: `python make_seeds.py --many-expanded-views OUT.pth` writes it."""
    import zipfile
    state = {f"t{i}": ("0", (elements,), [0], 1) for i in range(n)}
    pkl = _TorchPickler().dumps(state, "FloatStorage")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/data/0", np.ones(1, np.float32).tobytes())
        z.writestr("archive/version", "3\n")
    Path(path).write_bytes(buf.getvalue())


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--many-expanded-views":
        many_expanded_views(sys.argv[2])
        return
    for f in (images, audio, depth, thermal, imu, text, checkpoints):
        f()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"{sum(1 for p in OUT.rglob('*') if p.is_file())} seed files, {total} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
