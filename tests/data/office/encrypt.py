#!/usr/bin/python3
"""Writes an OOXML package encrypted as Excel does (ECMA-376 Standard
Encryption, MS-OFFCRYPTO 2.3.4.5: AES-128-ECB, SHA-1 key derivation) into
an OLE2 compound file laid out as Office lays it out: the FAT, the
directory and the mini-FAT in sectors 0 to 2, the mini stream (holding
EncryptionInfo) in sector 3, then EncryptedPackage. ClamAV looks for
EncryptionInfo at the start of sector 3, so this layout is what it reads.

Usage: encrypt.py PASSWORD PACKAGE OUT

No Debian tool writes Standard Encryption (msoffcrypto-tool and
LibreOffice write Agile), so this is ours; the AES and SHA-1 are
python3-cryptography's and hashlib's, independent of the engine's crates.
"""
import hashlib
import struct
import sys

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

SECTOR = 512
MINI = 64
FREE, END, FATSECT, NOSTREAM = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def aes_ecb(key, data):
    e = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return e.update(data) + e.finalize()


def derive(password, salt):
    h = hashlib.sha1(salt + password.encode("utf-16-le")).digest()
    for i in range(50000):
        h = hashlib.sha1(struct.pack("<I", i) + h).digest()
    h = hashlib.sha1(h + struct.pack("<I", 0)).digest()
    x1 = hashlib.sha1(bytes(b ^ 0x36 for b in h) + b"\x36" * 44).digest()
    x2 = hashlib.sha1(bytes(b ^ 0x5C for b in h) + b"\x5c" * 44).digest()
    return (x1 + x2)[:16]


def encryption_info(key, salt):
    verifier = bytes(range(16, 32))
    vhash = hashlib.sha1(verifier).digest() + b"\0" * 12
    csp = "Microsoft Enhanced RSA and AES Cryptographic Provider\0".encode("utf-16-le")
    flags = 0x24  # fCryptoAPI | fAES
    header = struct.pack("<8I", flags, 0, 0x660E, 0x8004, 128, 0x18, 0, 0) + csp
    return (
        struct.pack("<HHII", 3, 2, flags, len(header))
        + header
        + struct.pack("<I", 16)
        + salt
        + aes_ecb(key, verifier)
        + struct.pack("<I", 20)
        + aes_ecb(key, vhash)
    )


def dir_entry(name, kind, left, right, child, start, size):
    n = (name + "\0").encode("utf-16-le") if name else b""
    return (
        n.ljust(64, b"\0")
        + struct.pack("<HBB3I", len(n), kind, 1, left, right, child)
        + b"\0" * 16
        + struct.pack("<I", 0)
        + b"\0" * 16
        + struct.pack("<IQ", start, size)
    )


def compound(info, package):
    mini_sectors = (len(info) + MINI - 1) // MINI
    mini_stream = info.ljust(mini_sectors * MINI, b"\0")
    mini_big = (len(mini_stream) + SECTOR - 1) // SECTOR
    pkg_big = (len(package) + SECTOR - 1) // SECTOR
    first_mini, first_pkg = 3, 3 + mini_big
    total = first_pkg + pkg_big
    assert total <= SECTOR // 4, "one FAT sector"
    fat = [FATSECT, END, END]
    fat += [first_mini + i + 1 for i in range(mini_big - 1)] + [END]
    fat += [first_pkg + i + 1 for i in range(pkg_big - 1)] + [END]
    fat += [FREE] * (SECTOR // 4 - len(fat))
    minifat = [i + 1 for i in range(mini_sectors - 1)] + [END]
    minifat += [FREE] * (SECTOR // 4 - len(minifat))
    directory = (
        dir_entry("Root Entry", 5, NOSTREAM, NOSTREAM, 1, first_mini, len(mini_stream))
        # Siblings compare by name length first: EncryptionInfo < EncryptedPackage.
        + dir_entry("EncryptionInfo", 2, NOSTREAM, 2, NOSTREAM, 0, len(info))
        + dir_entry("EncryptedPackage", 2, NOSTREAM, NOSTREAM, NOSTREAM, first_pkg, len(package))
        + dir_entry("", 0, NOSTREAM, NOSTREAM, NOSTREAM, 0, 0)
    )
    header = (
        bytes.fromhex("d0cf11e0a1b11ae1")
        + b"\0" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\0" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, 2, 1, END, 0)
        + struct.pack("<I", 0)
        + struct.pack("<108I", *([FREE] * 108))
    )
    assert len(header) == SECTOR
    return (
        header
        + struct.pack("<128I", *fat)
        + directory
        + struct.pack("<128I", *minifat)
        + mini_stream.ljust(mini_big * SECTOR, b"\0")
        + package.ljust(pkg_big * SECTOR, b"\0")
    )


def main():
    password, source, out = sys.argv[1:4]
    plain = open(source, "rb").read()
    salt = bytes(range(1, 17))
    key = derive(password, salt)
    body = plain + b"\0" * (-len(plain) % 16)
    package = struct.pack("<Q", len(plain)) + aes_ecb(key, body)
    # A big-block stream, as Office writes the package (at least 4096).
    package = package.ljust(4096 + 8, b"\0")
    with open(out, "wb") as f:
        f.write(compound(encryption_info(key, salt), package))


if __name__ == "__main__":
    main()
