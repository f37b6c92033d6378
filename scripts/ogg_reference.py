#!/usr/bin/env python3
"""Regenerates tests/fixtures/ogg/: small Ogg/Vorbis files and what libvorbis decodes them to.

mmbind must decode Ogg/Vorbis to the samples the official pipeline gets: torchaudio's
"soundfile" backend, i.e. libsndfile's `sf_readf_float`, which decodes with libvorbis (see
tests/fixtures/README.md). Each case below is encoded with `oggenc` from a generated WAV,
sometimes re-paged or re-timed (granule positions) the way other muxers and cut files have
them, then decoded with libsndfile (through ctypes, as python-soundfile calls it) to raw
float32. `oggdec` (libvorbisfile, 16-bit) is run as a cross-check. The test
`modalities/tests/audio.rs` (`ogg_*`) compares mmbind's `decode_audio` with the `.f32` files.

Files written to OUT_DIR:
  <case>.ogg   the input (a few KB)
  <case>.f32   libsndfile's samples: float32 little-endian, interleaved, channels in Vorbis
               order (absent for a case mmbind must refuse)

Needs: Python 3 (standard library only), vorbis-tools (oggenc, oggdec) and libsndfile
(Debian: apt-get install vorbis-tools libsndfile1). Made with libvorbis 1.3.7 and libsndfile
1.2.0 (Debian 12); the serial numbers are fixed, so the same versions give the same bytes.

    python3 scripts/ogg_reference.py tests/fixtures/ogg
"""
import ctypes
import ctypes.util
import math
import os
import struct
import subprocess
import sys
import tempfile
import wave

# name: (rate, channels, frames, oggenc quality, amplitude, packets per page or None,
#        granule shift); see CASES_DOC for why each is there.
CASES = {
    "vorbis_8k_mono_single_page": (8000, 1, 2400, "2", 0.5, None, 0),
    "vorbis_22k_mono_negative_start": (22050, 1, 2049, "2", 0.5, 4, -100),
    "vorbis_44k_stereo_loud": (44100, 2, 1025, "6", 1.3, 3, 0),
    "vorbis_48k_5_1": (48000, 6, 512, "4", 0.5, None, 0),
    "vorbis_11k_4ch_uneven_residue": (11025, 4, 300, "-1", 0.5, None, 0),
}
CASES_DOC = {
    "vorbis_8k_mono_single_page": "all audio in one page: the end is cut to the granule",
    "vorbis_22k_mono_negative_start": "4 packets a page, granules 100 short: the start is cut",
    "vorbis_44k_stereo_loud": "samples beyond +-1 (not clamped), 3 packets a page",
    "vorbis_48k_5_1": "libvorbis's 5.1 coupling (4 steps that share channels)",
    "vorbis_11k_4ch_uneven_residue": "refused: symphonia 0.5 garbles this residue layout",
}
# A chained file: two links (the second at another rate); libsndfile reads the first only.
CHAIN = ("vorbis_8k_chained", [(8000, 1, 300, "2", 0.5), (16000, 2, 200, "2", 0.5)])
REFUSED = {"vorbis_11k_4ch_uneven_residue"}


def synth(path, rate, channels, frames, amplitude, seed):
    """Two tones per channel plus a little noise, as 16-bit PCM (clipped at full scale)."""
    x = seed
    data = bytearray()
    for i in range(frames):
        for c in range(channels):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
            noise = x / 0x7FFFFFFF * 2 - 1
            v = amplitude * (
                0.6 * math.sin(2 * math.pi * (220 + 110 * c) * i / rate)
                + 0.3 * math.sin(2 * math.pi * 1234.5 * i / rate)
                + 0.1 * noise
            )
            data += struct.pack("<h", max(-32768, min(32767, round(v * 32767))))
    with wave.open(path, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(data))


# ------------------------------------------------------------------------------ Ogg pages

CRC_TABLE = []
for i in range(256):
    r = i << 24
    for _ in range(8):
        r = ((r << 1) ^ 0x04C11DB7) if r & 0x80000000 else r << 1
        r &= 0xFFFFFFFF
    CRC_TABLE.append(r)


def crc32(data):
    c = 0
    for b in data:
        c = ((c << 8) & 0xFFFFFFFF) ^ CRC_TABLE[((c >> 24) & 0xFF) ^ b]
    return c


def read_packets(ogg):
    """(packets, serial, last granule) of a single-stream Ogg file."""
    packets, current, pos = [], b"", 0
    serial = granule = None
    while pos < len(ogg):
        assert ogg[pos : pos + 4] == b"OggS"
        granule, serial = struct.unpack_from("<qI", ogg, pos + 6)
        n = ogg[pos + 26]
        lacing = ogg[pos + 27 : pos + 27 + n]
        body = pos + 27 + n
        for v in lacing:
            current += ogg[body : body + v]
            body += v
            if v < 255:
                packets.append(current)
                current = b""
        pos = body
    return packets, serial, granule


def page(serial, sequence, granule, flags, packets):
    lacing = bytearray()
    for p in packets:
        lacing += b"\xff" * (len(p) // 255) + bytes([len(p) % 255])
    assert len(lacing) <= 255
    header = struct.pack("<4sBBqIII", b"OggS", 0, flags, granule, serial, sequence, 0)
    raw = bytearray(header + bytes([len(lacing)]) + lacing + b"".join(packets))
    struct.pack_into("<I", raw, 22, crc32(raw))
    return bytes(raw)


class Bits:
    """LSb-first reader of a Vorbis header."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def read(self, n):
        v = 0
        for i in range(n):
            p = self.pos + i
            v |= ((self.data[p // 8] >> (p % 8)) & 1) << i
        self.pos += n
        return v


def ilog(x):
    return x.bit_length()


def mode_blockflags(setup, channels):
    """The block flag of each mode of a Vorbis setup header (spec 4.2.4)."""
    b = Bits(setup[7:])
    for _ in range(b.read(8) + 1):  # codebooks
        assert b.read(24) == 0x564342
        dims, entries = b.read(16), b.read(24)
        if b.read(1) == 0:
            sparse = b.read(1)
            for _ in range(entries):
                if not sparse or b.read(1):
                    b.read(5)
        else:
            b.read(5)
            e = 0
            while e < entries:
                e += b.read(ilog(entries - e))
        lookup = b.read(4)
        if lookup:
            b.read(64)
            value_bits = b.read(4) + 1
            b.read(1)
            if lookup == 1:
                r = int(entries ** (1 / dims))
                while (r + 1) ** dims <= entries:
                    r += 1
                while r**dims > entries:
                    r -= 1
                values = r
            else:
                values = entries * dims
            b.pos += values * value_bits
    for _ in range(b.read(6) + 1):  # time domain
        b.read(16)
    for _ in range(b.read(6) + 1):  # floors
        assert b.read(16) == 1, "floor 0"
        classes = [b.read(4) for _ in range(b.read(5))]
        dims = []
        for _ in range(max(classes) + 1 if classes else 0):
            dims.append(b.read(3) + 1)
            sub = b.read(2)
            if sub:
                b.read(8)
            b.pos += 8 << sub
        b.read(2)
        range_bits = b.read(4)
        for c in classes:
            b.pos += dims[c] * range_bits
    for _ in range(b.read(6) + 1):  # residues
        b.read(16 + 72)
        classifications = b.read(6) + 1
        b.read(8)
        cascade = []
        for _ in range(classifications):
            low = b.read(3)
            cascade.append((b.read(5) if b.read(1) else 0) * 8 + low)
        b.pos += 8 * sum(bin(c).count("1") for c in cascade)
    for _ in range(b.read(6) + 1):  # mappings
        b.read(16)
        submaps = b.read(4) + 1 if b.read(1) else 1
        if b.read(1):
            steps = b.read(8) + 1
            b.pos += steps * 2 * ilog(channels - 1)
        b.read(2)
        if submaps > 1:
            b.pos += 4 * channels
        b.pos += 24 * submaps
    flags = []
    for _ in range(b.read(6) + 1):  # modes
        flags.append(b.read(1))
        b.read(40)
    return flags


def repage(ogg, per_page, shift):
    """The same stream with `per_page` audio packets a page and every granule moved by
    `shift`: what another muxer, or a stream cut from a longer one, writes."""
    packets, serial, last_granule = read_packets(ogg)
    ident, comment, setup, audio = packets[0], packets[1], packets[2], packets[3:]
    channels, bs = ident[11], ident[28]
    blocksizes = [1 << (bs & 15), 1 << (bs >> 4)]
    flags = mode_blockflags(setup, channels)
    mode_bits = ilog(len(flags) - 1)
    out = [page(serial, 0, 0, 2, [ident]), page(serial, 1, 0, 0, [comment, setup])]
    granule, previous = 0, None
    groups = [audio[i : i + per_page] for i in range(0, len(audio), per_page)]
    for n, group in enumerate(groups):
        for p in group:
            size = blocksizes[flags[(p[0] >> 1) & ((1 << mode_bits) - 1)]]
            if previous is not None:
                granule += (previous + size) // 4
            previous = size
        last = n == len(groups) - 1
        g = (last_granule if last else granule) + shift
        out.append(page(serial, n + 2, g, 4 if last else 0, group))
    return b"".join(out)


# ------------------------------------------------------------------------- decoders

class SfInfo(ctypes.Structure):
    _fields_ = [
        ("frames", ctypes.c_int64),
        ("samplerate", ctypes.c_int),
        ("channels", ctypes.c_int),
        ("format", ctypes.c_int),
        ("sections", ctypes.c_int),
        ("seekable", ctypes.c_int),
    ]


SNDFILE = ctypes.CDLL(ctypes.util.find_library("sndfile") or "libsndfile.so.1")
SNDFILE.sf_open.restype = ctypes.c_void_p
SNDFILE.sf_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(SfInfo)]
SNDFILE.sf_readf_float.restype = ctypes.c_int64
SNDFILE.sf_readf_float.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64]
SNDFILE.sf_close.argtypes = [ctypes.c_void_p]
SNDFILE.sf_version_string.restype = ctypes.c_char_p


def libsndfile_f32(path):
    """(rate, channels, interleaved float32 samples) as sf_readf_float returns them."""
    info = SfInfo()
    handle = SNDFILE.sf_open(path.encode(), 0x10, ctypes.byref(info))
    assert handle, f"libsndfile cannot open {path}"
    chunk = (ctypes.c_float * (4096 * info.channels))()
    samples = []
    while True:
        n = SNDFILE.sf_readf_float(handle, chunk, 4096)
        if n <= 0:
            break
        samples.extend(chunk[: n * info.channels])
    SNDFILE.sf_close(handle)
    return info.samplerate, info.channels, samples


def oggdec_i16(path, tmp):
    """oggdec's (libvorbisfile's) 16-bit output, as floats. Fed through a pipe: on a file it
    can seek in, vorbisfile skips a first link that fits in one page."""
    out = os.path.join(tmp, "oggdec.wav")
    with open(path, "rb") as f:
        subprocess.run(["oggdec", "-Q", "-o", out, "-"], stdin=f, check=True)
    with wave.open(out) as w:
        raw = w.readframes(w.getnframes())
    return [v / 32768 for v in struct.unpack(f"<{len(raw) // 2}h", raw)]


def encode(tmp, rate, channels, frames, quality, amplitude, serial):
    src = os.path.join(tmp, f"{serial}.wav")
    dst = os.path.join(tmp, f"{serial}.ogg")
    synth(src, rate, channels, frames, amplitude, seed=serial)
    subprocess.run(
        ["oggenc", "-Q", "-q", quality, "-s", str(serial), "-o", dst, src], check=True
    )
    with open(dst, "rb") as f:
        return f.read()


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    print(f"libsndfile: {SNDFILE.sf_version_string().decode()}")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        made = {}
        for serial, (name, (rate, ch, frames, q, amp, per_page, shift)) in enumerate(
            CASES.items(), start=101
        ):
            ogg = encode(tmp, rate, ch, frames, q, amp, serial)
            if per_page:
                ogg = repage(ogg, per_page, shift)
            made[name] = (ogg, ogg)
        # oggdec refuses a chain whose links differ: it checks the first link alone.
        name, links = CHAIN
        linked = [encode(tmp, *link, serial=201 + i) for i, link in enumerate(links)]
        made[name] = (b"".join(linked), linked[0])
        for name, (ogg, check) in made.items():
            path = os.path.join(out_dir, name + ".ogg")
            with open(path, "wb") as f:
                f.write(ogg)
            rate, ch, samples = libsndfile_f32(path)
            frames = len(samples) // ch
            ref = os.path.join(out_dir, name + ".f32")
            if name in REFUSED:
                if os.path.exists(ref):
                    os.remove(ref)
                rows.append((name, rate, ch, frames, len(ogg), 0, "(refused)"))
                continue
            with open(ref, "wb") as f:
                f.write(struct.pack(f"<{len(samples)}f", *samples))
            # Cross-check with libvorbisfile (16-bit, clipped).
            check_path = os.path.join(tmp, "check.ogg")
            with open(check_path, "wb") as f:
                f.write(check)
            i16 = oggdec_i16(check_path, tmp)
            assert len(i16) == len(samples), (name, len(i16), len(samples))
            # oggdec writes 3+ channels in WAV order: pair each of its channels with the
            # closest reference channel (it must come out a permutation).
            n = len(samples) // ch

            def gap(j, c):
                clip = lambda s: max(-1.0, min(32767 / 32768, s))
                return max(abs(clip(samples[f * ch + c]) - i16[f * ch + j]) for f in range(n))

            gaps = [min(gap(j, c) for c in range(ch)) for j in range(ch)]
            pairing = [min(range(ch), key=lambda c: gap(j, c)) for j in range(ch)]
            assert sorted(pairing) == list(range(ch)), (name, pairing)
            worst = max(gaps)
            assert worst <= 0.5 / 32768 + 1e-6, (name, worst)
            rows.append((name, rate, ch, frames, len(ogg), 4 * len(samples), f"{worst:.1e}"))
    print(f"{'case':34} {'rate':>6} {'ch':>3} {'frames':>7} {'ogg B':>6} {'f32 B':>6}  oggdec")
    for name, rate, ch, frames, ogg_bytes, f32_bytes, worst in rows:
        print(f"{name:34} {rate:6} {ch:3} {frames:7} {ogg_bytes:6} {f32_bytes:6}  {worst}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/ogg")
