#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Small helper for nfc_e2e.sh and daemon_test.sh.

  zg_client.py ctl SOCK JSON...            one request per argument; prints each JSON reply
  zg_client.py wait SOCK TIMEOUT_S EXPR    polls {"cmd":"status"} until the Python expression EXPR
                                           (over `s`, the status object, and the helpers door(),
                                           pending()) is true; prints the last status on timeout
                                           and exits 1
  zg_client.py burst SOCK LOG CLIENTS TAPS DOOR GO_FILE GO_AFTER WHO...
                                           CLIENTS concurrent connections each send TAPS sim.tap
                                           requests at DOOR (in), cycling through WHO (people or
                                           UIDs), one at a time, each waiting for its answer. Every
                                           durably acknowledged tap is appended to LOG as one JSON
                                           line {seq, person, badge, door, verdict, reason, request}
                                           and flushed before the next request; GO_FILE is created
                                           once GO_AFTER taps are acknowledged (the signal to kill
                                           the daemon). Stops at the first broken connection; prints
                                           "acked N not_durable M errors E"; exits 1 if an answer
                                           claimed success without a seq and a decision.
  zg_client.py diversify MASTER UID AID SYSID
                                           NXP AN10922 AES-128 key (hex) as the daemon derives it:
                                           CMAC(MASTER, 01 || UID || AID || SYSID), two blocks,
                                           padded 80 00.. and the K2 path when shorter than 32 bytes.
                                           AID in wire order (least significant byte first).
"""
import json
import socket
import sys
import threading
import time


def request(path, req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    f = s.makefile("rwb")
    f.write((req + "\n").encode())
    f.flush()
    line = f.readline()
    s.close()
    if not line:
        raise RuntimeError("no reply from " + path)
    return json.loads(line)


def burst(path, log_path, clients, taps, door, go_file, go_after, who):
    lock = threading.Lock()
    totals = {"acked": 0, "not_durable": 0, "errors": 0, "malformed": 0}
    log = open(log_path, "a", encoding="utf-8")

    def client(index):
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(30)
            s.connect(path)
            f = s.makefile("rwb")
        except OSError:
            return
        try:
            for i in range(taps):
                person = who[(index + i * clients) % len(who)]
                req = {"cmd": "sim.tap", "who": person, "door": door, "dir": "in"}
                f.write((json.dumps(req) + "\n").encode())
                f.flush()
                line = f.readline()
                if not line:
                    return
                a = json.loads(line)
                with lock:
                    if not a.get("ok"):
                        totals["errors"] += 1
                        continue
                    if not a.get("durable"):
                        totals["not_durable"] += 1
                        continue
                    d = a.get("decision")
                    if not isinstance(d, dict) or not d.get("seq"):
                        totals["malformed"] += 1
                        continue
                    rec = {k: d.get(k) for k in ("seq", "person", "badge", "door", "verdict", "reason", "request")}
                    # On disk before the next request: the shell kills the daemon, never us.
                    log.write(json.dumps(rec, sort_keys=True) + "\n")
                    log.flush()
                    totals["acked"] += 1
                    if totals["acked"] == go_after:
                        with open(go_file, "w", encoding="utf-8") as g:
                            g.write("go")
        except (OSError, ValueError):
            return
        finally:
            s.close()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log.close()
    print("acked %d not_durable %d errors %d malformed %d" %
          (totals["acked"], totals["not_durable"], totals["errors"], totals["malformed"]))
    return 1 if totals["malformed"] else 0


def aes_ecb(key, block):
    """AES-128 of one block: python3-cryptography if installed, else the openssl command."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        import subprocess

        out = subprocess.run(["openssl", "enc", "-aes-128-ecb", "-nopad", "-K", key.hex()],
                             input=block, capture_output=True, check=True).stdout
        if len(out) != 16:
            raise SystemExit("openssl enc returned %d bytes" % len(out))
        return out
    enc = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return enc.update(block) + enc.finalize()


def dbl(b):
    n = int.from_bytes(b, "big") << 1
    if b[0] & 0x80:
        n ^= 0x87
    return (n & ((1 << 128) - 1)).to_bytes(16, "big")


def diversify(master, uid, aid, sysid):
    d = bytearray(b"\x01" + uid + aid + sysid)
    if len(d) > 32:
        raise SystemExit("diversification input longer than 32 bytes")
    padded = len(d) < 32
    if padded:
        d += b"\x80" + b"\x00" * (31 - len(d))
    k1 = dbl(aes_ecb(master, bytes(16)))
    k2 = dbl(k1)
    sub = k2 if padded else k1
    last = bytes(x ^ y for x, y in zip(d[16:], sub))
    c1 = aes_ecb(master, bytes(d[:16]))
    return aes_ecb(master, bytes(x ^ y for x, y in zip(c1, last)))


def main(argv):
    if len(argv) < 2:
        print(__doc__)
        return 2
    if argv[1] == "ctl":
        for req in argv[3:]:
            print(json.dumps(request(argv[2], req), separators=(",", ":")))
        return 0
    if argv[1] == "wait":
        path, timeout, expr = argv[2], float(argv[3]), argv[4]
        deadline = time.monotonic() + timeout
        s = None
        while True:
            try:
                s = request(path, '{"cmd":"status"}')["status"]

                def door(i, s=s):
                    return next(d for d in s["doors"] if d["id"] == i)

                def pending(i, s=s):
                    return [p for p in s["pending"] if p["door"] == i]

                if eval(expr, {"s": s, "door": door, "pending": pending}):
                    return 0
            except (OSError, RuntimeError, ValueError):
                pass
            if time.monotonic() > deadline:
                print("timed out waiting for: " + expr)
                print(json.dumps(s, indent=1))
                return 1
            time.sleep(0.05)
    if argv[1] == "burst":
        path, log_path, clients, taps, door, go_file, go_after = argv[2:9]
        return burst(path, log_path, int(clients), int(taps), door, go_file, int(go_after), argv[9:])
    if argv[1] == "diversify":
        master, uid, aid, sysid = (bytes.fromhex(a) for a in argv[2:6])
        print(diversify(master, uid, aid, sysid).hex().upper())
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
