#!/usr/bin/env python3
"""Independent verifier of a trailmask audit trail, for auditors (no trailmask code needed).

    pip install blake3 cryptography zstandard
    python3 verify_trail.py /var/lib/trailmask/trail [--key trail-signing.pub]...

Checks every chain DIR/<chain>/<20-digit first seq>.jsonl[.zst]: each line's hash (BLAKE3 of the
bytes before the last ',"hash":'), seq without gaps, prev = hash of the record before, ts never
decreasing, segment_start first in each segment, every segment but the newest sealed by a
checkpoint, nothing after a "stop" checkpoint, checkpoint signatures (Ed25519 over
"trailmask-checkpoint:<chain>:<covers_seq>:<covers_hash>") with the key its key_id names, and
that a trail not starting at seq 1 is explained by a prune record. Exit 0 intact, 1 broken
(prints file, line, seq, expected, found), 2 when the input cannot be examined.
"""
import json, os, re, sys
import blake3, zstandard
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

def fail(f, n, seq, why, exp, got):
    print(f"BROKEN {f} line {n} seq {seq}: {why}\n  expected: {exp}\n  found:    {got}"); sys.exit(1)

def check_chain(root, chain, keys):
    d = os.path.join(root, chain); names = {}
    for n in sorted(os.listdir(d)):
        m = re.fullmatch(r"(\d{20})\.jsonl(\.zst)?", n)
        if m: names.setdefault(int(m.group(1)), n)  # plain .jsonl sorts before its .zst twin
    seq = prev = ts = prev_seg = anchor = None; pruned = []; unchecked = 0; segs = sorted(names)
    for i, first in enumerate(segs):
        f = os.path.join(d, names[first]); raw = open(f, "rb").read()
        if f.endswith(".zst"):
            try: z = zstandard.ZstdDecompressor().decompressobj(); raw = z.decompress(raw)
            except zstandard.ZstdError as e: fail(f, 0, None, "compressed segment is corrupt", "zstd", e)
            if not z.eof: fail(f, raw.count(b"\n") + 1, None, "compressed segment is cut", "a whole zstd frame", "EOF")
        lines = raw.split(b"\n"); tail = lines.pop(); newest = i == len(segs) - 1
        if tail and not newest: fail(f, len(lines) + 1, None, "torn line", "\\n", tail[:40])
        if tail: print(f"warning: {f}: torn last line of {len(tail)} bytes ignored")
        if not lines and newest: print(f"warning: {f}: newest segment holds no whole record (crash while opening it)")
        stopped = False; kind = None
        for n, line in enumerate(lines, 1):
            try:
                try: r = json.loads(line)
                except ValueError as e: fail(f, n, None, "not JSON", "a record", e)
                cut = line.rfind(b',"hash":'); h = blake3.blake3(line[:cut]).hexdigest()
                if not line.startswith(b'{"seq":') or line[cut:] != b',"hash":"%s"}' % r.get("hash", "").encode() \
                        or not line[:cut].endswith(b',"prev":"%s"' % r.get("prev", "").encode()):
                    fail(f, n, r.get("seq"), "record shape", '{"seq":…,"prev":…,"hash":…}', line[:60])
                if h != r["hash"]: fail(f, n, r["seq"], "hash", h, r["hash"])
                if seq is None: anchor = (r["seq"], r["prev"], r.get("previous_segment"), f)
                elif r["seq"] != seq + 1: fail(f, n, r["seq"], "seq", seq + 1, r["seq"])
                elif r["prev"] != prev: fail(f, n, r["seq"], "prev", prev, r["prev"])
                if ts and r["ts"] < ts: fail(f, n, r["seq"], "ts goes backwards", ts, r["ts"])
                if stopped: fail(f, n, r["seq"], "record after stop checkpoint", "end of segment", r["kind"])
                kind = r["kind"]
                if (n == 1) != (kind == "segment_start"): fail(f, n, r["seq"], "segment_start placement", "first only", kind)
                if kind == "segment_start" and (r["seq"] != first or r["segment"] != names[first].removesuffix(".zst")
                        or r["chain"] != chain or (prev_seg is not None and r["previous_segment"] != prev_seg)):
                    fail(f, n, r["seq"], "segment_start does not match its file/chain", names[first], r)
                if kind == "checkpoint":
                    if r["covers_seq"] != r["seq"] - 1 or r["covers_hash"] != r["prev"]:
                        fail(f, n, r["seq"], "checkpoint covers", (r["seq"] - 1, r["prev"]), (r["covers_seq"], r["covers_hash"]))
                    if not keys: unchecked += 1
                    elif r["key_id"] not in keys: fail(f, n, r["seq"], "key_id matches no --key", list(keys), r["key_id"])
                    else:
                        try: keys[r["key_id"]].verify(bytes.fromhex(r["sig"]), f"trailmask-checkpoint:{chain}:{r['covers_seq']}:{r['covers_hash']}".encode())
                        except Exception: fail(f, n, r["seq"], "signature does not verify", r["key_id"], r["sig"])
                    stopped = r.get("stop") is True
                if kind == "prune": pruned += r["segments"]
                seq, prev, ts = r["seq"], r["hash"], r["ts"]
            except (KeyError, TypeError, AttributeError, ValueError) as e: fail(f, n, None, "malformed record", "SPEC members", e)
        if not newest and kind != "checkpoint": fail(f, len(lines), seq, "segment not sealed", "checkpoint", kind)
        prev_seg = names[first].removesuffix(".zst")
    if anchor and anchor[:3] != (1, "0" * 64, None) and not any(
            p["last_seq"] + 1 == anchor[0] and p["last_hash"] == anchor[1] and p["segment"] == anchor[2] for p in pruned):
        fail(anchor[3], 1, anchor[0], "oldest records missing without a prune record", "seq 1", anchor[0])
    print(f"chain {chain}: intact, head seq {seq} hash {prev}" + (f", {unchecked} signatures not checked" if unchecked else ""))

def main(argv):
    args, keys = [a for a in argv if not a.startswith("--key")], {}
    for k in [v for a, v in zip(argv, argv[1:]) if a == "--key"]:
        args.remove(k)
        try: raw = bytes.fromhex(open(k).read().strip()); pub = Ed25519PublicKey.from_public_bytes(raw)
        except (OSError, ValueError) as e: print(f"cannot use key file {k}: {e}"); sys.exit(2)
        keys[blake3.blake3(raw).hexdigest()[:16]] = pub
    if len(args) != 1 or not os.path.isdir(args[0]): print(__doc__); sys.exit(2)
    chains = sorted(c for c in os.listdir(args[0]) if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", c)
                    and os.path.isdir(os.path.join(args[0], c)) and any(re.fullmatch(r"\d{20}\.jsonl(\.zst)?", n) for n in os.listdir(os.path.join(args[0], c))))
    if not chains: print(f"no chain with segments under {args[0]}"); sys.exit(2)
    for c in chains: check_chain(args[0], c, keys)

if __name__ == "__main__":
    main(sys.argv[1:])
